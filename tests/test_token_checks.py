"""Tests for course_lib.token_checks: each check passes the reference and fails typical
wrong answers with feedback that names the mistake."""

import numpy as np
import pytest

from course_lib import token_checks


def reference_nearest(vectors, codebook):
    distances = ((vectors[:, None, :] - codebook[None, :, :]) ** 2).sum(-1)
    return distances.argmin(axis=1)


def test_nearest_code_passes_the_reference(capsys):
    assert token_checks.check_nearest_code(reference_nearest)
    assert capsys.readouterr().out.startswith("PASS")


def _not_done(vectors, codebook):
    raise NotImplementedError


@pytest.mark.parametrize(
    ("answer", "feedback"),
    [
        (lambda v, c: ((v[:, None] - c[None]) ** 2).sum(-1).argmax(1), "farthest"),
        (lambda v, c: (v @ c.T).argmax(1), "|e|^2"),
        (lambda v, c: ((v[:, None] - c[None]) ** 2).sum(-1).argmin(0), "axis 1"),
        (lambda v, c: ((v[:, None] - c[None]) ** 2).sum(-1), "distances"),
        (
            lambda v, c: (v @ c.T / np.linalg.norm(c, axis=1)).argmax(1),
            "cosine",
        ),
        (_not_done, "not implemented"),
        (None, "expected a function"),
    ],
)
def test_nearest_code_fails_typical_mistakes(answer, feedback, capsys):
    assert not token_checks.check_nearest_code(answer)
    output = capsys.readouterr().out
    assert output.startswith("FAIL") and feedback in output


def reference_calls(sampler, steps):
    if sampler in ("gan", "vae"):
        return 1
    if sampler == "autoregressive":
        return 49 + 1
    return steps + 1


def test_sequential_calls_passes_the_reference(capsys):
    assert token_checks.check_sequential_calls(reference_calls)
    assert capsys.readouterr().out.startswith("PASS")


def _forgot_decoder(sampler, steps):
    return reference_calls(sampler, steps) - (sampler not in ("gan", "vae"))


def _cache_counts_once(sampler, steps):
    return 2 if sampler == "autoregressive" else reference_calls(sampler, steps)


def _maskgit_per_token(sampler, steps):
    return 50 if sampler == "maskgit" else reference_calls(sampler, steps)


def _diffusion_in_one(sampler, steps):
    return 2 if sampler == "latent_diffusion" else reference_calls(sampler, steps)


@pytest.mark.parametrize(
    ("answer", "feedback"),
    [
        (_forgot_decoder, "decoder"),
        (_cache_counts_once, "cheaper, not fewer"),
        (_maskgit_per_token, "K steps"),
        (_diffusion_in_one, "denoising step"),
        (
            lambda sampler, steps: (
                0 if sampler == "gan" else reference_calls(sampler, steps)
            ),
            "one network call",
        ),
    ],
)
def test_sequential_calls_fails_typical_mistakes(answer, feedback, capsys):
    assert not token_checks.check_sequential_calls(answer)
    output = capsys.readouterr().out
    assert output.startswith("FAIL") and feedback in output


def test_the_checks_agree_with_the_library():
    from course_lib import token_sampling, vq  # the library, for the comparison

    for (sampler, steps), expected in token_checks.CALL_CASES.items():
        assert token_sampling.sequential_calls(sampler, steps) == expected
    vectors, codebook = token_checks._inputs()
    np.testing.assert_array_equal(
        np.asarray(vq.nearest_codes(vectors.astype("float32"), codebook)),
        reference_nearest(vectors, codebook),
    )


# ------------------------------------------- further mistakes and broken answers


@pytest.mark.parametrize(
    ("answer", "feedback"),
    [
        (lambda v, c: reference_nearest(v, c).astype(float), "integers"),
        (lambda v, c: reference_nearest(v, c)[:-1], "expected shape (40,)"),
        (lambda v, c: np.zeros(len(v), dtype=int), "of the indices match"),
        (lambda v, c: v.undefined, "AttributeError"),
        (3, "expected a function"),
    ],
    ids=["float", "short", "constant", "raises", "not-callable"],
)
def test_nearest_code_reports_broken_answers(answer, feedback, capsys):
    assert not token_checks.check_nearest_code(answer)
    output = capsys.readouterr().out
    assert output.startswith("FAIL") and output.count("\n") == 1
    assert feedback in output, output


def test_nearest_code_cannot_change_the_reference_inputs(capsys):
    def in_place(vectors, codebook):
        codebook[:] = 0.0
        return reference_nearest(vectors, codebook)

    assert not token_checks.check_nearest_code(in_place)
    capsys.readouterr()
    assert token_checks.check_nearest_code(reference_nearest)
    capsys.readouterr()


def _stub_calls(sampler, steps):
    raise NotImplementedError


def _ar_counts_the_prefix(sampler, steps):
    if sampler == "autoregressive":
        return 49 * 50 // 2 + 1
    return reference_calls(sampler, steps)


def _ar_forgets_its_decoder(sampler, steps):
    return 49 if sampler == "autoregressive" else reference_calls(sampler, steps)


@pytest.mark.parametrize(
    ("answer", "feedback"),
    [
        (_ar_counts_the_prefix, "recomputing the prefix"),
        (_ar_forgets_its_decoder, "decoder"),
        (
            lambda sampler, steps: None if sampler == "maskgit" else 1,
            "maskgit: your function returned None",
        ),
        (lambda sampler, steps: "fifty", "expected a whole number"),
        (lambda sampler, steps: [1], "expected a whole number"),
        (lambda sampler, steps: steps + 1, "gan: your function raised TypeError"),
        (_stub_calls, "not implemented"),
        (None, "expected a function"),
        (
            lambda sampler, steps: (
                3
                if sampler == "maskgit" and steps == 1
                else reference_calls(sampler, steps)
            ),
            "maskgit with steps=1: got 3",
        ),
    ],
    ids=[
        "prefix",
        "ar-decoder",
        "none",
        "text",
        "list",
        "raises",
        "stub",
        "missing",
        "fallback",
    ],
)
def test_sequential_calls_reports_more_mistakes(answer, feedback, capsys):
    assert not token_checks.check_sequential_calls(answer)
    output = capsys.readouterr().out
    assert output.startswith("FAIL") and output.count("\n") == 1
    assert feedback in output, output


def test_sequential_calls_accepts_floats_and_numpy_integers(capsys):
    assert token_checks.check_sequential_calls(
        lambda sampler, steps: np.int64(reference_calls(sampler, steps))
    )
    assert token_checks.check_sequential_calls(
        lambda sampler, steps: float(reference_calls(sampler, steps))
    )
    capsys.readouterr()
