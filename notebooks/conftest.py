"""nbval settings for the course notebooks (collected only when pytest runs here).

Two known nbval limits are lifted:
- stderr is left out of output comparisons (TensorFlow writes to it freely);
- nbval waits a hard-coded 5 s for a cell's outputs, too short for training cells.

The kernels nbval starts inherit this process's environment, so TensorFlow's C++
logging is quietened here, before any kernel starts, exactly as the runner does.
"""

import os

import nbval.plugin

# The same values as course_lib.runner.QUIET_KERNEL_ENV (tests/test_runner.py keeps
# them equal), written out so that collecting notebooks does not load TensorFlow.
QUIET_KERNEL_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3"}
if not os.environ.get("COURSE_VERBOSE_TF"):
    os.environ.update(QUIET_KERNEL_ENV)

# Scratch notebooks ("_" prefix) are never collected.
collect_ignore_glob = ["_*.ipynb"]

OUTPUT_TIMEOUT_SECONDS = 120

_original_init = nbval.plugin.IPyNbCell.__init__
_original_compare = nbval.plugin.IPyNbCell.compare_outputs


def _init(self, *args, **kwargs):
    _original_init(self, *args, **kwargs)
    self.output_timeout = OUTPUT_TIMEOUT_SECONDS


def _without_stderr(outputs):
    return [
        output
        for output in outputs
        if not (
            output.get("output_type") == "stream" and output.get("name") == "stderr"
        )
    ]


def _compare(self, test, ref, skip_compare=None):
    return _original_compare(
        self, _without_stderr(test), _without_stderr(ref), skip_compare
    )


nbval.plugin.IPyNbCell.__init__ = _init
nbval.plugin.IPyNbCell.compare_outputs = _compare
