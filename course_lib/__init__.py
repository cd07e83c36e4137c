"""course_lib: the tested, reusable code of 'GANs and VAEs: derived, trained and timed'.

The notebooks hold the teaching; this package holds the code they share. Import
modules, not names: ``from course_lib import config, data``.
"""

import contextlib
import os
import sys

# Keras reads its backend once, at import time; the course uses TensorFlow.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"


@contextlib.contextmanager
def _stderr_file_descriptor_silenced():
    """Silence C++ start-up notices written straight to file descriptor 2.

    TensorFlow's runtime prints oneDNN and CUDA notices from C++ when it loads and
    when it first looks for GPUs; TF_CPP_MIN_LOG_LEVEL no longer hides all of them,
    and JupyterLab shows them as alarming red boxes. Python-level errors are not
    affected: they are raised after the descriptor is restored.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _load_tensorflow_quietly():
    if "tensorflow" in sys.modules or os.environ.get("COURSE_VERBOSE_TF"):
        return
    with _stderr_file_descriptor_silenced():
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
        except ImportError:
            pass


_load_tensorflow_quietly()
