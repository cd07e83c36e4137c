"""Auto-checks for the exercises of notebooks 00 and 01: counting and history.

The reference answers are counted here, independently of the notebooks.

Introduced in notebooks/01_background.ipynb.
"""

from __future__ import annotations

import numpy as np

from course_lib.checks.core import call, compare, report

# Notebook 00: start here.


def _bright_count(image) -> int:
    """Count the pixels > 127 of one image, one value at a time (the reference)."""
    return sum(1 for value in np.asarray(image).astype(np.int64).ravel() if value > 127)


def check_bright_pixels(student_answer, images) -> bool:
    """Check a count, or a counting function, of pixels brighter than 127.

    A number is compared with the count of one image. A function
    ``f(images) -> counts`` is called on a copy of ``images``, a batch, and on a
    small batch of edge values (126 to 129) made here; it must return
    one count per image, shape ``(n,)``.

    Args:
        student_answer: The student's count, an integer, or the function.
        images: The uint8 image (values 0 to 255) for a count, or the batch of
            uint8 images, shape ``(n, height, width)``, for a function.

    Returns:
        Whether the answer is right.

    Introduced in notebooks/00_start_here.ipynb.
    """
    if callable(student_answer):
        return _check_bright_pixel_function(student_answer, np.asarray(images))
    values = np.asarray(images).astype(np.int64).ravel()
    bright = _bright_count(values)
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


# Two 2 x 3 images of edge values: a threshold off by one changes their counts.
EDGE_IMAGES = np.array(
    [[[0, 126, 127], [128, 129, 255]], [[127, 127, 128], [3, 250, 64]]],
    dtype=np.uint8,
)


def _bright_pixel_mistakes(images):
    """``(wrong counts, message)`` for the typical mistakes, on ``images``."""
    as_int = images.astype(np.int64)
    pixels = images[0].size
    counts = np.array([_bright_count(image) for image in images])
    return [
        ((as_int >= 127).sum(axis=(1, 2)), "you counted >= 127; use > 127"),
        ((as_int > 128).sum(axis=(1, 2)), "you counted > 128; 128 is bright too"),
        (pixels - counts, "you counted the dark pixels, not the bright ones"),
        (counts / pixels, "that is the fraction of bright pixels; give the count"),
        (
            ((images - np.uint8(128)) > 0).sum(axis=(1, 2)),
            "uint8 arithmetic wraps around (0 - 128 is 128 in uint8): compare the "
            "values with 127 directly instead of subtracting first",
        ),
    ]


def _check_bright_pixel_function(function, images) -> bool:
    name = "check_bright_pixels"
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            "check_bright_pixels calls your function on a uint8 batch of shape "
            f"(n, height, width), got {images.dtype} of shape {images.shape}: "
            "pass e.g. mnist.x_train[:100]."
        )
    for label, test_images in (
        ("the edge values 126 to 129", EDGE_IMAGES),
        (f"a batch of {len(images)} images", images),
    ):
        result, problem = call(function, test_images.copy())
        if problem is not None:
            return report(name, False, problem)
        count, height, width = test_images.shape
        if result.shape == ():
            return report(
                name,
                False,
                "you returned one number for the whole batch; give one count per "
                "image: sum over the pixel axes, .sum(axis=(1, 2)).",
            )
        if result.shape == test_images.shape:
            return report(
                name,
                False,
                "you returned the True/False mask of bright pixels; count its "
                "True entries in each image with .sum(axis=(1, 2)).",
            )
        if result.shape in ((count, height), (count, width)):
            return report(
                name,
                False,
                f"shape {result.shape}: you summed over one pixel axis only; sum "
                "over both, .sum(axis=(1, 2)).",
            )
        expected = np.array([_bright_count(image) for image in test_images])
        if result.shape != expected.shape:
            return report(
                name,
                False,
                f"expected one count per image, shape {expected.shape}, "
                f"got {result.shape}.",
            )
        if np.array_equal(result, expected):
            continue
        for wrong, message in _bright_pixel_mistakes(test_images):
            if np.allclose(result, wrong, rtol=0.0, atol=1e-12):
                return report(name, False, f"{message} (on {label}).")
        wrong_count = int(np.sum(result != expected))
        return report(
            name,
            False,
            f"{wrong_count} of {count} counts are wrong on {label}. Compare each "
            "pixel with > 127 and count per image with .sum(axis=(1, 2)).",
        )
    return report(
        name,
        True,
        f"all {len(EDGE_IMAGES) + len(images)} counts right, edge values included.",
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
