"""Rounding perturbations: patches that a kernel applies before a notebook's first cell.

tools/perturbation_proof.py starts each notebook's kernel with a first cell that imports one of
these modules and calls its `apply()`. They import TensorFlow or Keras at the top where they need
them: only a perturbed kernel imports them.
"""
