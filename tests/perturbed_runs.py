"""Re-run notebooks with their floating-point rounding perturbed; compare what nbval compares.

A stored output that strict nbval compares as text must not depend on rounding: another CPU,
another thread count, another order of a sum gives other last bits, and the text must stay the
same. Switching the environment on one machine (oneDNN, threads, NumPy's AVX-512 paths) does not
reach another CPU's rounding, so two of the perturbations change the arithmetic itself while
leaving the mathematics alone: the data's rows in another order (every sum over them in another
order), and every input and starting point moved by one unit in the last place.

Each perturbation is a piece of code that a fresh kernel runs before the notebook's first cell,
plus environment variables for that kernel. The notebook runs in a copy of its folder, so nothing
stored is touched. By default GIFs are not recorded and figures are not drawn (their pixels are
not compared, and this makes the runs several times faster); `--figures` draws them and compares
the PNG figures and the GIF files too, byte for byte (under "one-ulp" and
"one-thread-plain-kernels" only: "other-order" also draws scattered points in another order).

Usage (from the repository root):
    python -m tests.perturbed_runs                       # every notebook, every perturbation
    python -m tests.perturbed_runs --perturbation other-order path/to/nb.ipynb
    python -m tests.perturbed_runs --figures --jobs 2
"""
from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import difflib
import hashlib
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

from tools.run_notebooks import ROOT, all_notebooks, shown

IGNORED_TAGS = {"nbval-ignore-output", "nbval-skip"}
SANITIZE_FILE = ROOT / "tests" / "nbval_sanitize.cfg"

# NumPy's loadtxt and random generators hand every array they make to `_perturb(array)`, which
# each perturbation defines: the data files and random draws the notebooks start from.
_PATCH_INPUTS = '''
import numpy as _np

_loadtxt, _default_rng = _np.loadtxt, _np.random.default_rng


def _perturbed_loadtxt(*args, **kwargs):
    return _perturb(_loadtxt(*args, **kwargs))


class _PerturbedGenerator(_np.random.Generator):
    """The same random stream; every array of floats it draws goes through _perturb."""

    def standard_normal(self, *args, **kwargs):
        return _perturb(super().standard_normal(*args, **kwargs))

    def normal(self, *args, **kwargs):
        return _perturb(super().normal(*args, **kwargs))

    def random(self, *args, **kwargs):
        return _perturb(super().random(*args, **kwargs))

    def uniform(self, *args, **kwargs):
        return _perturb(super().uniform(*args, **kwargs))


_np.loadtxt = _perturbed_loadtxt
_np.random.default_rng = lambda seed=None: _PerturbedGenerator(_default_rng(seed).bit_generator)
'''

_OTHER_ORDER = '''
import numpy as _np

_order = _np.random.Generator(_np.random.PCG64(20261204))


def _perturb(a):
    """The rows of a table (axis -2: a data file's rows, a configuration's points) reordered."""
    if not isinstance(a, _np.ndarray) or a.ndim < 2 or a.dtype.kind != "f":
        return a
    return _np.take(a, _order.permutation(a.shape[-2]), axis=-2)
''' + _PATCH_INPUTS

_ONE_ULP = '''
import numpy as _np
import keras as _keras
import tensorflow as _tf


def _perturb(a):
    """Every float moved up by one unit in the last place."""
    if isinstance(a, _np.ndarray) and a.dtype.kind == "f":
        return _np.nextafter(a, _np.inf)
    if isinstance(a, float):
        return float(_np.nextafter(a, _np.inf))
    return a


def _nudge(value, dtype=None):
    """A variable's starting value, moved by one ulp if it is a float tensor."""
    tensor = _tf.convert_to_tensor(value, dtype=dtype)
    if not tensor.dtype.is_floating:
        return value
    return _tf.math.nextafter(tensor, _tf.constant(_np.inf, tensor.dtype))


def _nudging_creator(next_creator, **kwargs):
    """Every new tf.Variable (parameters, optimizer states) starts one ulp off.

    Not a learning rate: that is a setting the reader chose, not a starting point.
    """
    initial, dtype = kwargs.get("initial_value"), kwargs.get("dtype")
    if initial is not None and "learning_rate" not in (kwargs.get("name") or ""):
        kwargs["initial_value"] = ((lambda: _nudge(initial(), dtype)) if callable(initial)
                                   else _nudge(initial, dtype))
    return next_creator(**kwargs)


_creator_scope = _tf.variable_creator_scope(_nudging_creator)   # kept: its exit would undo it
_creator_scope.__enter__()                                      # for the whole kernel session

_load_model = _keras.saving.load_model


def _nudged_load_model(*args, **kwargs):
    """A model read from a file, every weight moved by one ulp."""
    model = _load_model(*args, **kwargs)
    for weight in model.weights:
        if weight.dtype.startswith("float"):
            weight.assign(_nudge(weight))
    return model


_keras.saving.load_model = _keras.models.load_model = _nudged_load_model
''' + _PATCH_INPUTS

_ONE_THREAD = '''
import tensorflow as _tf

_tf.config.threading.set_intra_op_parallelism_threads(1)
_tf.config.threading.set_inter_op_parallelism_threads(1)
'''

_NO_PICTURES = '''
import matplotlib as _matplotlib

_matplotlib.use("agg")            # figures are made but not drawn (pixels are not compared)
import common as _common

_common.record_gif = _common.save_gif = lambda *args, **kwargs: None
'''


def _numpy_avx512_targets() -> str:
    """NumPy's AVX-512 dispatch targets that this CPU has (naming others is an error)."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    return " ".join(t for t in __cpu_dispatch__
                    if t.startswith(("AVX512", "X86_V4")) and __cpu_features__.get(t))


@dataclasses.dataclass(frozen=True)
class Perturbation:
    """A change that alters rounding but not the mathematics."""

    name: str
    what: str
    code: str
    env: dict[str, str] = dataclasses.field(default_factory=dict)


def perturbations() -> list[Perturbation]:
    """The perturbations every compared output must withstand."""
    return [
        Perturbation("other-order", "the data's rows, and the points of every random "
                     "configuration, in another order, so that every sum over them runs in "
                     "another order", _OTHER_ORDER),
        Perturbation("one-ulp", "every number read from a data file or drawn at random, every "
                     "variable's starting value (not a learning rate) and every weight of a "
                     "loaded model moved up by one unit in the last place", _ONE_ULP),
        Perturbation("one-thread-plain-kernels", "one TensorFlow thread, oneDNN off, NumPy's "
                     "AVX-512 code paths off", _ONE_THREAD,
                     env={"TF_ENABLE_ONEDNN_OPTS": "0",
                          "NPY_DISABLE_CPU_FEATURES": _numpy_avx512_targets()}),
    ]


def perturbation(name: str) -> Perturbation:
    """The perturbation called `name`."""
    for p in perturbations():
        if p.name == name:
            return p
    raise ValueError(f"no perturbation named {name!r}; "
                     f"choose from {', '.join(p.name for p in perturbations())}")


def _sanitizers() -> list[tuple[re.Pattern, str]]:
    """The regex/replace pairs of the nbval sanitize file that the test suite uses."""
    lines = [line.strip() for line in SANITIZE_FILE.read_text().splitlines()]
    regexes = [line.split(":", 1)[1].strip() for line in lines if line.startswith("regex:")]
    replaces = [line.split(":", 1)[1].strip() for line in lines if line.startswith("replace:")]
    return [(re.compile(r), s) for r, s in zip(regexes, replaces)]


def _is_figure(output: nbformat.NotebookNode) -> bool:
    """A matplotlib figure shown by the inline backend (its text is only '<Figure size ...>')."""
    return output.output_type == "display_data" and "image/png" in output.get("data", {})


def compared_text(cell: nbformat.NotebookNode, figures: bool = False) -> str:
    """What strict nbval compares of a code cell's outputs, as text; PNGs when `figures`.

    Stderr is not compared (conftest.py). Figures are left out unless `figures` is set: their
    text says only the figure's size, and without `figures` they are not drawn.
    """
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            if output.name == "stdout":
                parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            data = output.get("data", {})
            if _is_figure(output):
                if figures:
                    digest = hashlib.sha256(data["image/png"].encode()).hexdigest()[:16]
                    parts.append(f"[figure: {data.get('text/plain', '')}, PNG {digest}]\n")
                continue
            parts += [f"[{key}] {data[key]}\n" for key in ("text/plain", "text/html", "image/gif")
                      if key in data]
        elif output.output_type == "error":
            parts.append(f"[error] {output.ename}: {output.evalue}\n")
    text = "".join(parts)
    for pattern, replacement in _sanitizers():
        text = pattern.sub(replacement, text)
    return text


def is_compared(cell: nbformat.NotebookNode) -> bool:
    """Whether strict nbval compares this cell's outputs."""
    return cell.cell_type == "code" and not IGNORED_TAGS & set(cell.metadata.get("tags", []))


@dataclasses.dataclass
class Mismatch:
    """A compared output (a cell, or a file the notebook writes) that changed."""

    where: str
    stored: str
    perturbed: str

    def diff(self) -> str:
        """The changed lines, stored (-) against perturbed (+)."""
        lines = difflib.unified_diff(self.stored.splitlines(), self.perturbed.splitlines(),
                                     "stored", "perturbed", lineterm="", n=0)
        return f"{self.where}:\n" + "\n".join(list(lines)[2:])


@dataclasses.dataclass
class Result:
    """One notebook run under one perturbation."""

    notebook: Path
    perturbation: str
    mismatches: list[Mismatch]
    error: str | None
    seconds: float

    def report(self) -> str:
        """What changed, readable in a test failure or a terminal."""
        outcome = (f"failed to run: {self.error}" if self.error
                   else f"{len(self.mismatches)} compared output(s) changed")
        head = f"{shown(self.notebook)} under {self.perturbation}: {outcome}, {self.seconds:.0f} s"
        return "\n".join([head] + [m.diff() for m in self.mismatches])


def _file_digests(folder: Path) -> dict[str, str]:
    """SHA-256 of the GIF files in a folder."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16]
            for p in sorted(folder.glob("*.gif"))}


def run_perturbed(notebook: Path, chosen: Perturbation, workdir: Path, *, figures: bool = False,
                  timeout: int = 900) -> tuple[nbformat.NotebookNode, Path]:
    """Execute the notebook in a copy of its folder, after the perturbation's code.

    Returns the executed notebook (without the added cell) and the folder it ran in. A failing
    cell raises nbclient's CellExecutionError.
    """
    folder = workdir / notebook.parent.name
    shutil.copytree(notebook.parent, folder, ignore=shutil.ignore_patterns(".*", "__pycache__"))
    nb = nbformat.read(notebook, as_version=4)
    setup = chosen.code if figures else _NO_PICTURES + chosen.code
    nb.cells.insert(0, nbformat.v4.new_code_cell(setup))
    saved = {key: os.environ.get(key) for key in chosen.env}
    os.environ.update(chosen.env)  # the kernel inherits this process's environment
    try:
        with open(os.devnull, "w") as quiet:
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(folder)}}
                           ).execute(stdout=quiet, stderr=quiet)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    del nb.cells[0]
    CoalesceStreamsPreprocessor().preprocess(nb, {})
    return nb, folder


def mismatches(stored: nbformat.NotebookNode, perturbed: nbformat.NotebookNode,
               figures: bool = False) -> list[Mismatch]:
    """Compared cells whose outputs differ between the stored and the perturbed notebook."""
    CoalesceStreamsPreprocessor().preprocess(stored, {})
    found = []
    for i, (old, new) in enumerate(zip(stored.cells, perturbed.cells)):
        if is_compared(old):
            before, after = compared_text(old, figures), compared_text(new, figures)
            if before != after:
                found.append(Mismatch(f"cell {i}", before, after))
    return found


def check(notebook: Path, perturbation_name: str, figures: bool = False) -> Result:
    """Run one notebook under one perturbation and compare it with the stored notebook."""
    notebook = Path(notebook).resolve()
    start = time.perf_counter()
    error, found = None, []
    with tempfile.TemporaryDirectory() as workdir:
        try:
            perturbed, folder = run_perturbed(notebook, perturbation(perturbation_name),
                                              Path(workdir), figures=figures)
        except Exception as failure:  # a failing cell (an assert), a dead kernel, a timeout
            error = f"{type(failure).__name__}: {str(failure).strip()[-2000:]}"
        else:
            found = mismatches(nbformat.read(notebook, as_version=4), perturbed, figures)
            if figures:
                before, after = _file_digests(notebook.parent), _file_digests(folder)
                found += [Mismatch(name, before[name], after.get(name, "missing"))
                          for name in before if before[name] != after.get(name)]
    return Result(notebook, perturbation_name, found, error, time.perf_counter() - start)


def check_all(cases: list[tuple[Path, str]], jobs: int = 2, figures: bool = False,
              on_result=None) -> dict[tuple[Path, str], Result]:
    """Run every (notebook, perturbation name) case, `jobs` kernels at a time.

    `on_result(result)`, when given, is called as each case finishes.
    """
    # "spawn": a worker forked from a process that has started TensorFlow's threads can hang.
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=spawn) as pool:
        futures = {pool.submit(check, *case, figures): case for case in cases}
        results = {}
        for future in concurrent.futures.as_completed(futures):
            results[futures[future]] = future.result()
            if on_result is not None:
                on_result(results[futures[future]])
        return {case: results[case] for case in cases}


class BackgroundCheck:
    """check() of every case, running in worker processes while the caller goes on."""

    def __init__(self, cases: list[tuple[Path, str]], jobs: int = 2):
        # "spawn": a worker forked from a process that has started TensorFlow's threads can hang.
        self._pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
        self._futures = {case: self._pool.submit(check, *case) for case in cases}

    def result(self) -> dict[tuple[Path, str], Result]:
        """{(notebook, perturbation name): Result}, once every case has run."""
        return {case: future.result() for case, future in self._futures.items()}

    def stop(self) -> None:
        """Cancel what has not started and end the workers (their kernels exit with them)."""
        for future in self._futures.values():
            future.cancel()
        for process in list(getattr(self._pool, "_processes", {}).values()):
            process.terminate()
        self._pool.shutdown(wait=False, cancel_futures=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook")
    parser.add_argument("--perturbation", action="append",
                        choices=[p.name for p in perturbations()], help="default: all of them")
    parser.add_argument("--figures", action="store_true",
                        help="draw figures and record GIFs, and compare them byte for byte")
    parser.add_argument("--jobs", type=int, default=1, help="kernels run at the same time")
    args = parser.parse_args(argv)
    # Reordered rows also redraw a scatter plot's points in another order: with --figures, only
    # the perturbations that leave every drawing instruction in place are meaningful.
    names = args.perturbation or [p.name for p in perturbations()
                                  if not (args.figures and p.name == "other-order")]
    notebooks = [p.resolve() for p in args.notebooks] or all_notebooks()
    results = check_all([(nb, name) for nb in notebooks for name in names], jobs=args.jobs,
                        figures=args.figures, on_result=lambda r: print(r.report(), flush=True))
    return 1 if any(r.error or r.mismatches for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
