"""The machinery every exercise check shares: compare, call, and report.

Each check prints one ``PASS`` or ``FAIL`` line and returns ``True`` or ``False``.
A ``FAIL`` line names the mistake where the answer matches a typical one (a
"known mistake"), and otherwise gives the relative error and a hint, in the
manner of CS231n's ``rel_error``. An exercise cell that still holds the student
stub (``raise NotImplementedError``) is reported as "not implemented".

Introduced in notebooks/01_background.ipynb.
"""

from __future__ import annotations

import keras
import numpy as np

from course_lib.config import NOT_IMPLEMENTED

DEFAULT_TOLERANCE = 1e-6


def rel_error(x, y) -> float:
    """Return the largest element-wise relative error between ``x`` and ``y``.

    ``max(|x - y| / max(1e-8, |x| + |y|))``, as in CS231n's assignments: about
    1e-16 for identical float64 results, and above 1e-3 for a real mistake.

    Args:
        x: A number or array.
        y: A number or array of a shape that broadcasts with ``x``.

    Returns:
        The relative error as a Python float.

    Introduced in notebooks/01_background.ipynb.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def report(name: str, passed: bool, detail: str) -> bool:
    """Print the one-line verdict of a check and return it.

    Args:
        name: The check's name, printed after ``PASS`` or ``FAIL``.
        passed: The verdict.
        detail: What was measured, or what went wrong and how to fix it.

    Returns:
        ``passed``.
    """
    print(f"{'PASS' if passed else 'FAIL'} {name}: {detail}")
    return passed


def _matches(answer: np.ndarray, value, tolerance: float) -> bool:
    value = np.asarray(value, dtype=np.float64)
    if value.shape != answer.shape or not np.all(np.isfinite(value)):
        return False
    return rel_error(answer, value) <= max(tolerance, 1e-9)


def compare(name, answer, expected, tolerance, hint, mistakes=()) -> bool:
    """Compare a numeric answer with the reference and print the verdict.

    Args:
        name: The check's name.
        answer: The student's number, tuple or array.
        expected: The reference answer.
        tolerance: The largest relative error that passes.
        hint: What to try when the answer is wrong in an unknown way.
        mistakes: ``(wrong_value, message)`` pairs: an answer equal to a typical
            wrong value gets that value's message, naming the mistake.

    Returns:
        Whether the answer is right.
    """
    if answer is None:
        return report(name, False, "no answer yet; replace None with yours.")
    try:
        answer_array = np.asarray(answer, dtype=np.float64)
    except (TypeError, ValueError):
        return report(name, False, f"expected a number or array, got {answer!r}.")
    expected_array = np.asarray(expected, dtype=np.float64)
    if answer_array.shape != expected_array.shape:
        return report(
            name,
            False,
            f"expected shape {expected_array.shape}, got {answer_array.shape}.",
        )
    if not np.all(np.isfinite(answer_array)):
        return report(name, False, f"the answer has inf or NaN entries. {hint}")
    error = rel_error(answer_array, expected_array)
    detail = f"relative error {error:.1e} (tolerance {tolerance:.0e})"
    if error <= tolerance:
        return report(name, True, detail)
    for wrong_value, message in mistakes:
        if _matches(answer_array, wrong_value, tolerance):
            return report(name, False, f"{message} ({detail})")
    return report(name, False, f"{detail}. {hint}")


def call(function, *args):
    """Call a student's function; return ``(result, None)`` or ``(None, problem)``.

    Args:
        function: The student's function.
        *args: Its test inputs (copies, so a function that edits them in place
            cannot change the reference).

    Returns:
        The result as a float64 array and ``None``, or ``None`` and a sentence
        saying what went wrong.
    """
    if function is None:
        return None, "no answer yet; replace None with your function."
    if not callable(function):
        return None, f"expected a function, got {type(function).__name__}."
    try:
        result = function(*args)
    except NotImplementedError:
        return None, NOT_IMPLEMENTED
    except Exception as error:  # noqa: BLE001 - report any failure of the answer.
        return None, f"your function raised {type(error).__name__}: {error}"
    if result is None:
        return None, "your function returned None; complete it and return a value."
    try:
        return np.asarray(result, dtype=np.float64), None
    except (TypeError, ValueError):
        return None, f"your function returned {type(result).__name__}, not numbers."


def call_builder(build_fn, *args):
    """Call a learner's builder; return ``(model, None)`` or ``(None, problem)``.

    Args:
        build_fn: The learner's function that builds a ``keras.Model``.
        *args: Its arguments (a latent size, say).

    Returns:
        The model and ``None``, or ``None`` and a sentence saying what went wrong.
    """
    if build_fn is None or not callable(build_fn):
        return None, "expected your builder function; define it in the cell above."
    try:
        model = build_fn(*args)
    except NotImplementedError:
        return None, NOT_IMPLEMENTED
    except Exception as error:  # noqa: BLE001 - report any failure of the answer.
        return None, f"your function raised {type(error).__name__}: {error}"
    if not isinstance(model, keras.Model):
        return None, (
            f"your builder returned {type(model).__name__}, not a keras.Model: it "
            "must return a keras.Model, e.g. keras.Model(inputs, outputs)."
        )
    return model, None


def check_function(name, function, args, expected, tolerance, hint, mistakes=()):
    """Call a student's function on test inputs and compare its result.

    Args:
        name: The check's name.
        function: The student's function.
        args: A tuple of test inputs.
        expected: The reference result on those inputs.
        tolerance: The largest relative error that passes.
        hint: What to try when the result is wrong in an unknown way.
        mistakes: ``(wrong_function, message)`` pairs; each wrong function is
            called on the same inputs, and a match gets its message.

    Returns:
        Whether the function is right.
    """
    result, problem = call(function, *args)
    if problem is not None:
        return report(name, False, problem)
    wrong_values = []
    for wrong_function, message in mistakes:
        with np.errstate(all="ignore"):
            wrong_values.append((wrong_function(*args), message))
    return compare(name, result, expected, tolerance, hint, wrong_values)
