"""One TensorFlow thread; the proof also starts the kernel with oneDNN and NumPy's AVX-512 off."""
import tensorflow as tf


def apply() -> None:
    """Every TensorFlow op on one thread: sums split over no threads, in one order."""
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
