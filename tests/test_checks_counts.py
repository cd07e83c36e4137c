"""Tests for the build exercise of course_lib.checks.counts (notebook 00).

tests/test_checks.py already proves the number form of ``check_bright_pixels`` and
every check of notebooks 01 to 03; here the function form passes the reference, in
several right spellings, and fails each typical wrong function with feedback that
names the mistake. The right counts are written out by hand.
"""

import numpy as np
import pytest

from course_lib.checks import counts

# Three 3 x 4 images whose bright (> 127) pixels are counted by hand: 5, 0 and 12.
BATCH = np.array(
    [
        [[0, 127, 128, 255], [10, 200, 127, 126], [129, 3, 130, 0]],
        np.zeros((3, 4)),
        np.full((3, 4), 250),
    ],
    dtype=np.uint8,
)
HAND_COUNTS = [5, 0, 12]


def reference(images):
    return (images > 127).sum(axis=(1, 2))


def test_the_batch_is_counted_right_by_hand():
    assert [counts._bright_count(image) for image in BATCH] == HAND_COUNTS
    assert reference(BATCH).tolist() == HAND_COUNTS


@pytest.mark.parametrize(
    "answer",
    [
        reference,
        lambda images: (images.reshape(len(images), -1) > 127).sum(axis=1),
        lambda images: np.count_nonzero(images / 255 > 0.5, axis=(1, 2)),
        lambda images: [int((image > 127).sum()) for image in images],
    ],
    ids=["sum-axes", "reshape", "scaled", "loop"],
)
def test_right_functions_pass(answer, capsys):
    assert counts.check_bright_pixels(answer, BATCH) is True
    out = capsys.readouterr().out
    assert out.startswith("PASS") and out.count("\n") == 1, out


def _stub(images):
    raise NotImplementedError


WRONG = [
    (lambda x: (x >= 127).sum(axis=(1, 2)), ">= 127"),
    (lambda x: (x > 128).sum(axis=(1, 2)), "> 128"),
    (lambda x: (x <= 127).sum(axis=(1, 2)), "dark pixels"),
    (lambda x: (x > 127).mean(axis=(1, 2)), "fraction"),
    (lambda x: ((x - 128) > 0).sum(axis=(1, 2)), "wraps around"),
    (lambda x: (x > 127).sum(), "whole batch"),
    (lambda x: x > 127, "mask"),
    (lambda x: (x > 127).sum(axis=1), "one pixel axis"),
    (lambda x: (x > 127).sum(axis=(1, 2))[:1], "got (1,)"),
    (lambda x: (x > 100).sum(axis=(1, 2)), "counts are wrong"),
    (lambda x: None, "returned None"),
    (lambda x: x.undefined, "AttributeError"),
    (_stub, "not implemented"),
]


@pytest.mark.parametrize(("answer", "words"), WRONG, ids=[w for _, w in WRONG])
def test_typical_wrong_functions_fail_with_their_message(answer, words, capsys):
    assert counts.check_bright_pixels(answer, BATCH) is False
    out = capsys.readouterr().out
    assert out.startswith("FAIL") and out.count("\n") == 1, out
    assert words in out, f"feedback {out!r} should say {words!r}"


def test_an_answer_right_on_the_edge_values_only_fails_on_the_batch(capsys):
    def edge_values_only(images):
        if images.shape == counts.EDGE_IMAGES.shape:
            return reference(images)
        return np.zeros(len(images), dtype=int)

    assert counts.check_bright_pixels(edge_values_only, BATCH) is False
    assert "batch of 3 images" in capsys.readouterr().out


def test_the_function_cannot_change_the_callers_images(capsys):
    images = BATCH.copy()

    def in_place(x):
        x[:] = 255
        return reference(x)

    assert counts.check_bright_pixels(in_place, images) is False
    assert np.array_equal(images, BATCH)
    capsys.readouterr()


def test_a_batch_that_is_not_uint8_images_is_an_error_naming_the_fix():
    with pytest.raises(ValueError, match="mnist.x_train"):
        counts.check_bright_pixels(reference, BATCH[0])
    with pytest.raises(ValueError, match="uint8"):
        counts.check_bright_pixels(reference, BATCH.astype(np.float32))
