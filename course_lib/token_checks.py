"""Auto-checks for the exercises of the images-as-tokens notebook.

Each ``check_<exercise>(student_function)`` calls the learner's function on its
own inputs, prints one ``PASS`` or ``FAIL`` line whose feedback names the
mistake, and returns ``True`` or ``False``. The references are computed here,
independently of ``course_lib.vq`` and ``course_lib.token_sampling``.

Introduced in notebooks/08_images_as_tokens.ipynb.
"""

from __future__ import annotations

import numpy as np


def _report(name: str, passed: bool, detail: str) -> bool:
    print(f"{'PASS' if passed else 'FAIL'} {name}: {detail}")
    return passed


def _call(function, *args):
    """Return ``(result, None)`` or ``(None, feedback)`` for a learner's function."""
    if function is None or not callable(function):
        return None, "expected a function; define it in the cell above."
    try:
        return function(*args), None
    except NotImplementedError:
        return None, "not implemented yet: replace `raise NotImplementedError`."
    except Exception as error:  # noqa: BLE001 - report any failure of the answer.
        return None, f"your function raised {type(error).__name__}: {error}"


# ------------------------------------------------------------ nearest code


def _inputs(seed: int = 0):
    rng = np.random.default_rng(seed)
    # Codes of very different lengths: a dot product alone picks the long ones.
    codebook = rng.normal(size=(12, 3)) * rng.uniform(0.2, 3.0, size=(12, 1))
    vectors = rng.normal(size=(40, 3))
    return vectors, codebook


def _distances(vectors, codebook):
    return np.array([[np.sum((v - e) ** 2) for e in codebook] for v in vectors])


def check_nearest_code(nearest_code) -> bool:
    """Check ``nearest_code(vectors (n, D), codebook (K, D)) -> indices (n,)``.

    The reference is a brute-force loop over every vector and every code. The
    codes have very different lengths, so a dot product alone, the farthest code
    or cosine similarity each pick other codes, and the feedback names which.

    Args:
        nearest_code: The learner's function, called on copies of 40 vectors in
            3-D and a codebook of 12 codes.

    Returns:
        Whether every index matches the brute-force nearest code.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    name = "nearest code"
    vectors, codebook = _inputs()
    answer, problem = _call(nearest_code, vectors.copy(), codebook.copy())
    if problem:
        return _report(name, False, problem)
    answer = np.asarray(answer)
    distances = _distances(vectors, codebook)
    expected = np.argmin(distances, axis=1)
    if answer.shape == distances.shape:
        return _report(
            name,
            False,
            "you returned the (n, K) distances; return the index of the smallest "
            "for each vector: argmin over axis 1.",
        )
    if answer.shape == (len(codebook),):
        return _report(
            name,
            False,
            "one index per code: you took the argmin over the vectors (axis 0); "
            "take it over the codes (axis 1).",
        )
    if answer.shape != expected.shape:
        return _report(
            name, False, f"expected shape {expected.shape}, got {answer.shape}."
        )
    if not np.issubdtype(answer.dtype, np.integer):
        return _report(name, False, f"indices must be integers, got {answer.dtype}.")
    if np.array_equal(answer, expected):
        return _report(name, True, f"all {len(expected)} indices match brute force.")
    wrong = {
        "argmax": np.argmax(distances, axis=1),
        "dot": np.argmax(vectors @ codebook.T, axis=1),
        "cosine": np.argmax(
            (vectors @ codebook.T) / np.linalg.norm(codebook, axis=1), axis=1
        ),
    }
    if np.array_equal(answer, wrong["argmax"]):
        hint = "you picked the farthest code: use argmin of the distances."
    elif np.array_equal(answer, wrong["dot"]):
        hint = (
            "you maximised z.e alone, which favours long codes; the distance is "
            "|z|^2 - 2 z.e + |e|^2, so keep the |e|^2 term."
        )
    elif np.array_equal(answer, wrong["cosine"]):
        hint = "that is cosine similarity; the VQ layer uses Euclidean distance."
    else:
        share = float(np.mean(answer == expected))
        hint = f"{share:.0%} of the indices match; compare |z - e_k|^2 for every k."
    return _report(name, False, hint)


# -------------------------------------------------------- sequential calls

# (sampler, steps) -> calls one image waits for, the decoder's call included.
CALL_CASES = {
    ("gan", None): 1,
    ("vae", None): 1,
    ("autoregressive", None): 50,
    ("maskgit", 8): 9,
    ("maskgit", 1): 2,
    ("latent_diffusion", 50): 51,
    ("latent_diffusion", 1000): 1001,
}


def check_sequential_calls(sequential_calls) -> bool:
    """Check ``sequential_calls(sampler, steps) -> int`` on every family.

    The reference counts are ``CALL_CASES``: the network calls one image waits
    for, one after another, the final decoder call included.

    Args:
        sequential_calls: The learner's function of a sampler name (``"gan"``,
            ``"vae"``, ``"autoregressive"``, ``"maskgit"`` or
            ``"latent_diffusion"``) and its number of steps (``None`` where the
            sampler has none).

    Returns:
        Whether every case is right.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    name = "sequential calls"
    answers = {}
    for (sampler, steps), _ in CALL_CASES.items():
        answer, problem = _call(sequential_calls, sampler, steps)
        if problem:
            return _report(name, False, f"{sampler}: {problem}")
        if answer is None:
            return _report(
                name,
                False,
                f"{sampler}: your function returned None; return the number of calls.",
            )
        if isinstance(answer, bool) or not isinstance(answer, (int, float, np.number)):
            return _report(
                name, False, f"{sampler}: expected a whole number, got {answer!r}."
            )
        answers[(sampler, steps)] = answer
    wrong = {k: v for k, v in answers.items() if v != CALL_CASES[k]}
    if not wrong:
        return _report(name, True, f"all {len(CALL_CASES)} cases are right.")
    minus_one = all(answers[k] == CALL_CASES[k] - 1 for k in wrong)
    iterative = all(sampler not in ("gan", "vae") for sampler, _ in wrong)
    autoregressive = answers[("autoregressive", None)]
    if minus_one and iterative:
        hint = (
            "one short: the tokens or latents still go through the decoder once "
            "at the end; count that call too."
        )
    elif autoregressive in (49 * 49, 49 * 50 // 2, 49 * 49 + 1, 49 * 50 // 2 + 1):
        hint = (
            "you counted the work of recomputing the prefix, not the calls: each "
            "token is one call, 49 of them, then the decoder."
        )
    elif autoregressive in (1, 2):
        hint = (
            "the KV cache makes each of the 49 calls cheaper, not fewer: token i "
            "still waits for token i - 1."
        )
    elif answers[("maskgit", 8)] in (49, 50):
        hint = "MaskGIT fills many tokens per step: K steps, not one per token."
    elif answers[("latent_diffusion", 1000)] in (1, 2):
        hint = "each of the T denoising steps waits for the previous one."
    elif answers[("gan", None)] != 1:
        hint = "a GAN (or a VAE decoder) draws an image in one network call."
    else:
        (sampler, steps), value = next(iter(wrong.items()))
        hint = f"{sampler} with steps={steps}: got {value!r}."
    return _report(name, False, hint)
