"""The environment report that every notebook prints before it starts.

Each line is ``[OK]``, ``[WARN]`` or ``[FAIL]`` followed by what was checked, so a
learner can see at a glance whether the machine is ready.

Introduced in notebooks/00_start_here.ipynb.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import sys

from course_lib import config

MIN_PYTHON = (3, 10)
COLAB_GPU_ADVICE = (
    "No GPU: in Colab choose Runtime > Change runtime type > T4 GPU, then "
    "Runtime > Restart session, and run the notebook again."
)


@dataclasses.dataclass(frozen=True)
class Check:
    """One line of the report.

    Args:
        status: ``"OK"``, ``"WARN"`` or ``"FAIL"``.
        name: What was checked.
        detail: The value found, and advice where something is wrong.
    """

    status: str
    name: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.status}] {self.name}: {self.detail}"


def _python_check() -> Check:
    version = platform.python_version()
    if sys.version_info[:2] < MIN_PYTHON:
        need = ".".join(map(str, MIN_PYTHON))
        return Check("FAIL", "Python", f"{version}; the course needs {need} or newer")
    return Check("OK", "Python", version)


def _framework_checks() -> list[Check]:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    checks = []
    # Imported here so that a missing framework is reported, not raised.
    try:
        import tensorflow as tf
    except ImportError:
        return [
            Check(
                "FAIL",
                "TensorFlow",
                "not installed; run `make lab` or `pip install -e .[dev]`",
            )
        ]
    checks.append(Check("OK", "TensorFlow", tf.__version__))
    import keras  # After TensorFlow, for the same reason.

    major = int(keras.__version__.split(".")[0])
    if major < 3:
        checks.append(
            Check("FAIL", "Keras", f"{keras.__version__}; the course needs Keras 3")
        )
    else:
        checks.append(Check("OK", "Keras", keras.__version__))
    backend = keras.backend.backend()
    status = "OK" if backend == "tensorflow" else "FAIL"
    detail = (
        backend
        if status == "OK"
        else (f"{backend}; set KERAS_BACKEND=tensorflow before importing keras")
    )
    checks.append(Check(status, "Keras backend", detail))
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        checks.append(Check("OK", "GPU", ", ".join(gpu.name for gpu in gpus)))
    elif config.in_colab():
        checks.append(Check("WARN", "GPU", COLAB_GPU_ADVICE))
    else:
        checks.append(
            Check("OK", "GPU", "none found; the CPU will do (quick and full profiles)")
        )
    return checks


def environment_report(data_source: str | None = None) -> list[Check]:
    """Check the machine and return one line per item.

    Args:
        data_source: The MNIST source from ``data.load_mnist().source``; when
            ``None`` the data line says that no data was loaded yet.

    Returns:
        A list of :class:`Check` lines, in a fixed order: Python, TensorFlow,
        Keras, backend, GPU, Colab, CPU count, profile, data source.
    """
    checks = [_python_check(), *_framework_checks()]
    checks.append(Check("OK", "Colab", "yes" if config.in_colab() else "no"))
    cpus = os.cpu_count() or 1
    checks.append(Check("OK", "CPU cores", str(cpus)))
    try:
        profile = config.get_profile()
        checks.append(Check("OK", "Profile", profile.name))
    except ValueError as error:
        checks.append(Check("FAIL", "Profile", str(error)))
    if data_source is None:
        checks.append(Check("WARN", "Data source", "not loaded yet"))
    elif "subset" in data_source:
        checks.append(Check("WARN", "Data source", data_source))
    else:
        checks.append(Check("OK", "Data source", data_source))
    return checks


def print_report(data_source: str | None = None) -> list[Check]:
    """Print the environment report and return its lines.

    Args:
        data_source: As for :func:`environment_report`.

    Returns:
        The printed :class:`Check` lines.
    """
    checks = environment_report(data_source)
    for check in checks:
        print(check)
    return checks
