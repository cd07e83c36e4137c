"""Auto-checks for the exercises of notebooks 00 and 01: counting and history.

The reference answers are counted here, independently of the notebooks.

Introduced in notebooks/01_background.ipynb.
"""

from __future__ import annotations

import numpy as np

from course_lib.checks.core import compare, report

# Notebook 00: start here.


def check_bright_pixels(student_answer, image) -> bool:
    """Check the count of pixels brighter than half of full brightness (> 127).

    Args:
        student_answer: The student's count, an integer.
        image: The uint8 image, values 0 to 255, of any shape.

    Returns:
        Whether the count is right.

    Introduced in notebooks/00_start_here.ipynb.
    """
    values = np.asarray(image).astype(np.int64).ravel()
    bright = sum(1 for value in values if value > 127)
    return compare(
        "check_bright_pixels",
        student_answer,
        bright,
        0.0,
        "Compare with > 127 and count the True entries with .sum().",
        [
            (
                sum(1 for value in values if value >= 127),
                "you counted >= 127; use > 127",
            ),
            (values.size - bright, "you counted the dark pixels, not the bright ones"),
            (bright / values.size, "that is the fraction; give the count"),
            (values.size, "that is every pixel; compare each value with 127 first"),
            (
                sum(1 for value in values if value > 0),
                "you counted every non-black pixel",
            ),
        ],
    )


# Notebook 01: background and sampling cost.


def check_autoregressive_steps(student_answer) -> bool:
    """Check the sequential network calls to sample one 64x64 RGB image.

    A pixel-level autoregressive model (PixelCNN style) predicts one colour value
    at a time, so it needs 64 * 64 * 3 forward passes, one after the other.

    Args:
        student_answer: The number of sequential forward passes.

    Returns:
        Whether the answer is right.

    Introduced in notebooks/01_background.ipynb.
    """
    return compare(
        "check_autoregressive_steps",
        student_answer,
        64 * 64 * 3,
        0.0,
        "Count one step per colour value: height x width x channels.",
        [
            (64 * 64, "you counted pixels; each pixel has 3 colour values"),
            (64 * 3, "you multiplied one side by the channels; use both sides"),
            (1, "that is a GAN's count; a PixelCNN makes one pass per value"),
        ],
    )


def check_token_count(student_answer) -> bool:
    """Check the number of tokens for a 256x256 image and a factor-8 tokenizer.

    A VQ tokenizer that downsamples each side by 8 turns the image into a
    32 x 32 grid, that is 1024 tokens, each one a sequential decoding step.

    Args:
        student_answer: The number of tokens (= sequential decoding steps).

    Returns:
        Whether the answer is right.

    Introduced in notebooks/01_background.ipynb.
    """
    return compare(
        "check_token_count",
        student_answer,
        (256 // 8) ** 2,
        0.0,
        "Each side shrinks by the factor; the grid then has side**2 tokens.",
        [
            (256 // 8, "that is one side of the grid; the grid has side**2 tokens"),
            (
                8192,
                "8,192 is the codebook size (and 256**2 / 8): divide each side "
                "by 8, not the pixel count",
            ),
            (256**2, "that is the pixel count; the tokenizer downsamples by 8"),
        ],
    )


HISTORY_YEARS = {"deep_belief_network": 2006, "alexnet": 2012, "elman_network": 1990}


def check_history_years(student_answer) -> bool:
    """Check the corrected publication years of three works the article misdates.

    Args:
        student_answer: A dict with the keys ``"deep_belief_network"`` (Hinton,
            Osindero and Teh), ``"alexnet"`` (Krizhevsky, Sutskever and Hinton)
            and ``"elman_network"`` (Elman, "Finding structure in time").

    Returns:
        Whether every year is right.

    Introduced in notebooks/01_background.ipynb.
    """
    name = "check_history_years"
    if student_answer is None:
        return report(name, False, "no answer yet; replace None with a dict.")
    if not isinstance(student_answer, dict):
        return report(name, False, f"expected a dict, got {student_answer!r}.")
    missing = sorted(set(HISTORY_YEARS) - set(student_answer))
    if missing:
        return report(name, False, f"missing keys: {', '.join(missing)}.")
    wrong = [key for key, year in HISTORY_YEARS.items() if student_answer[key] != year]
    if wrong:
        return report(
            name,
            False,
            f"{len(wrong)} of 3 years wrong ({', '.join(wrong)}); "
            "see the timeline's references.",
        )
    return report(name, True, "all 3 years right (relative error 0.0e+00)")
