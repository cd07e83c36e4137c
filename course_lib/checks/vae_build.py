"""Checks of the build exercises of notebooks/07_vae_training.ipynb,
the learner's VAE: encoder, sample, decoder, loss and train_step.

Each check builds its own reference from the library's twins
(``models.vae_encoder``, ``models.vae_decoder``, ``losses.negative_elbo`` and
``vae.VAE``) on a fixed batch, fixed weights and a fixed seed, so that no
notebook cell computes its own expected value. The networks' checks and the
fixtures live in ``course_lib.checks.vae_networks``; this module re-exports them.

Introduced in notebooks/07_vae_training.ipynb.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from course_lib import losses, vae
from course_lib.checks.core import NOT_IMPLEMENTED, check_function, report
from course_lib.checks.vae_networks import (
    BATCH,
    FIXTURE_SEED,
    check_vae_decoder,
    check_vae_encoder,
    close,
    fixed_images,
    float32_policy,
    loss_fixture,
    matches,
    reference_networks,
)

__all__ = [
    "check_vae_decoder",
    "check_vae_encoder",
    "check_vae_negative_elbo",
    "check_vae_sample",
    "check_vae_train_step",
]

STEP_TOLERANCE = 1e-5  # float32 weights after one Adam step of 1e-3 (1% of a step).


# ------------------------------------------------------------------ sampling


def check_vae_sample(sample_latent) -> bool:
    """Check the reparameterised sample z = mean + exp(logvar / 2) * eps.

    The values are compared on fixed inputs; then the tape's gradients of
    ``sum(c * z)`` with respect to ``mean`` and ``logvar`` are compared with the
    closed forms ``c`` and ``c * eps * exp(logvar / 2) / 2``, which fails a
    sample drawn in NumPy or behind ``tf.stop_gradient``.

    Args:
        sample_latent: The learner's function ``(mean, logvar, eps) -> z``.

    Returns:
        Whether the sample and its gradients are right.

    Introduced in notebooks/07_vae_training.ipynb.
    """
    name = "check_vae_sample"
    rng = np.random.default_rng(FIXTURE_SEED)
    mean, logvar = rng.normal(size=(4, 3)), rng.normal(scale=0.7, size=(4, 3))
    eps, weights = rng.standard_normal((4, 3)), rng.normal(size=(4, 3))
    expected = mean + np.exp(logvar / 2) * eps
    mistakes = [
        (
            lambda m, v, e: m + np.exp(v) * e,
            "you scaled eps by the variance exp(log_var); scale by the standard "
            "deviation exp(log_var / 2)",
        ),
        (
            lambda m, v, e: m + v * e,
            "log_var is not sigma: sigma = exp(log_var / 2)",
        ),
        (lambda m, v, e: m + 0.5 * v * e, "sigma = exp(log_var / 2), not log_var / 2"),
        (lambda m, v, e: m + np.sqrt(np.abs(v)) * e, "sigma = exp(log_var / 2)"),
        (lambda m, v, e: m + np.exp(v / 2), "you forgot to multiply sigma by eps"),
        (lambda m, v, e: np.exp(v / 2) * e, "you forgot to add the mean"),
    ]
    args = (mean.copy(), logvar.copy(), eps.copy())
    if not matches(sample_latent, args, expected, 1e-6):
        hint = "z = mean + exp(log_var / 2) * eps."
        return check_function(name, sample_latent, args, expected, 1e-6, hint, mistakes)
    mean_variable, logvar_variable = tf.Variable(mean), tf.Variable(logvar)
    try:
        with tf.GradientTape() as tape:
            z = sample_latent(mean_variable, logvar_variable, tf.constant(eps))
            z = tf.cast(tf.convert_to_tensor(z), tf.float64)
            target = tf.reduce_sum(z * weights)
        grad_mean, grad_logvar = tape.gradient(target, [mean_variable, logvar_variable])
    except Exception as error:  # noqa: BLE001 - report any failure of the answer.
        return report(
            name,
            False,
            f"with tf.Variable inputs your function raised {type(error).__name__}: "
            f"{error}; build z with tf or keras.ops, not NumPy",
        )
    if grad_mean is None or grad_logvar is None:
        missing = " and ".join(
            part
            for part, grad in (("mean", grad_mean), ("log_var", grad_logvar))
            if grad is None
        )
        return report(
            name,
            False,
            f"no gradient reaches {missing}: z was computed outside the tape (NumPy, "
            "a Python float, tf.stop_gradient or a fresh random draw); write z = mean "
            "+ exp(log_var / 2) * eps with tf or keras.ops so the gradient flows to "
            "the encoder",
        )
    expected_mean = weights
    expected_logvar = weights * eps * np.exp(logvar / 2) / 2
    if not close(grad_mean, expected_mean, 1e-6) or not close(
        grad_logvar, expected_logvar, 1e-6
    ):
        return report(
            name,
            False,
            "the values are right but the gradients are not: dz/dmean must be 1 and "
            "dz/dlog_var eps * exp(log_var / 2) / 2 (is part of z behind "
            "tf.stop_gradient?)",
        )
    return report(name, True, "values and gradients match (tolerance 1e-06)")


# ------------------------------------------------------------------ the loss


def _wrong_elbo(x, logits, mean, logvar, beta, **mistake):
    """A negative ELBO with one typical mistake (see ``LOSS_MISTAKES``)."""
    probabilities = 1.0 / (1.0 + np.exp(-logits))
    per_pixel = {
        "bernoulli": np.logaddexp(0.0, logits) - x * logits,
        "mse": (x - probabilities) ** 2,
        "probabilities": -x * np.log(np.clip(logits, 1e-7, 1))
        - (1 - x) * np.log1p(-np.clip(logits, 0, 1 - 1e-7)),
    }[mistake.get("nll", "bernoulli")]
    pixel_axes = tuple(range(1, x.ndim))
    nll = getattr(np, mistake.get("pixels", "sum"))(per_pixel, axis=pixel_axes)
    variance, log_term = np.exp(logvar), logvar
    if mistake.get("kl") == "sigma_for_log":
        log_term = np.exp(logvar / 2)
    elif mistake.get("kl") == "sigma_for_variance":
        variance = np.exp(logvar / 2)
    per_dim = 0.5 * (variance + mean**2 - 1 - log_term)
    kl = getattr(np, mistake.get("dims", "sum"))(per_dim, axis=1)
    kl_weight = mistake.get("kl_weight", beta)
    total = mistake.get("nll_weight", 1.0) * nll + kl_weight * kl
    return getattr(np, mistake.get("batch", "mean"))(total)


LOSS_MISTAKES = [
    ({"batch": "sum"}, "your loss is summed over the batch; the reference averages"),
    ({"kl": "sigma_for_log"}, "your KL has sigma where log sigma^2 belongs (-log_var)"),
    ({"kl": "sigma_for_variance"}, "your KL has sigma where sigma^2 = exp(log_var) is"),
    (
        {"nll": "mse"},
        "that is the squared error of sigmoid(logits), not the Bernoulli NLL: sum "
        "softplus(logits) - x * logits over the pixels",
    ),
    (
        {"nll": "mse", "pixels": "mean"},
        "that is the MSE, not the Bernoulli NLL: sum softplus(logits) - x * logits",
    ),
    ({"kl_weight": 0.0}, "you forgot the KL term"),
    ({"pixels": "mean"}, "your NLL is a mean over pixels; the reference sums them"),
    ({"dims": "mean"}, "your KL is a mean over latent dims; the reference sums them"),
    ({"kl_sign": -1}, "the negative ELBO adds the KL term; you subtracted it"),
    ({"nll": "probabilities"}, "you read the logits as probabilities; use logits"),
    ({"beta_on": "both"}, "beta weights the KL term only, not the reconstruction"),
    ({"kl_weight": 1.0}, "your loss ignores beta: weight the KL term by beta"),
]


def _loss_mistakes(beta: float) -> list:
    """``(wrong_function, message)`` pairs at this beta (1 hides the beta ones)."""
    pairs = []
    for mistake, message in LOSS_MISTAKES:
        mistake = dict(mistake)
        if mistake.pop("kl_sign", 1) < 0:
            mistake["kl_weight"] = -beta
        if mistake.pop("beta_on", None):
            mistake["nll_weight"] = beta
        if "beta" in message and beta == 1.0:
            continue
        pairs.append(
            (
                lambda x, lg, m, v, k=mistake: _wrong_elbo(x, lg, m, v, beta, **k),
                message,
            )
        )
    return pairs


def check_vae_negative_elbo(negative_elbo, beta: float = 1.0) -> bool:
    """Check the learner's negative ELBO against ``losses.negative_elbo``.

    The fixed batch comes from :func:`loss_fixture`; the check calls the
    learner's function with the exercise's ``beta`` and with another one, to
    see that beta weights the KL term only.

    Args:
        negative_elbo: The learner's ``(x, logits, mean, logvar, beta) -> scalar``.
        beta: The recipe's beta (``recipes.VAE.beta``).

    Returns:
        Whether the loss matches to a relative error of 1e-6 for both betas.

    Introduced in notebooks/07_vae_training.ipynb.
    """
    name = "check_vae_negative_elbo"
    fixture = loss_fixture()
    args = (fixture["x"], fixture["logits"], fixture["mean"], fixture["logvar"])
    for weight in dict.fromkeys((float(beta), 0.5 if beta != 0.5 else 2.0)):
        expected = float(losses.negative_elbo(*args, beta=weight))
        mistakes = _loss_mistakes(weight)
        if weight == 1.0:  # Ignoring beta is then not a mistake.
            mistakes = [m for m in mistakes if "beta" not in m[1]]
        function = lambda x, lg, m, v, w=weight: negative_elbo(x, lg, m, v, beta=w)  # noqa: E731
        inputs = tuple(np.copy(a) for a in args)
        if not matches(function, inputs, expected, 1e-6):
            hint = (
                f"(beta = {weight}) mean over the batch of sum_pixels(softplus(l) - "
                "x l) + beta * 0.5 sum_dims(exp(v) + mu^2 - 1 - v)."
            )
            return check_function(
                name, function, inputs, expected, 1e-6, hint, mistakes
            )
    return report(name, True, "equal to losses.negative_elbo for two betas (1e-06)")


# ------------------------------------------------------------ the train step


def _changes(before, after):
    return [np.asarray(a, np.float64) - b for a, b in zip(after, before, strict=True)]


def _one_step(model, images):
    """Run one ``train_step`` as ``fit`` does (a tf.function); return its changes."""
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    model.optimizer.build(model.trainable_variables)
    before = [np.asarray(w, np.float64) for w in model.trainable_weights]
    logs = tf.function(model.train_step)(tf.constant(images))
    return logs, _changes(before, model.trainable_weights)


def _same(first, second) -> bool:
    return all(
        float(np.max(np.abs(a - b), initial=0.0)) <= STEP_TOLERANCE
        for a, b in zip(first, second, strict=True)
    )


def check_vae_train_step(model_class, beta: float = 1.0, seed: int = 7) -> bool:
    """Check one ``train_step`` of the learner's VAE class against ``vae.VAE``.

    Both models get the same encoder and decoder weights (the library's networks
    with fixed NumPy weights), the same noise seed, a fresh Adam(1e-3) and one
    fixed batch; after one ``train_on_batch`` the returned loss and every
    weight's change must match the reference's.

    Args:
        model_class: The learner's ``keras.Model`` subclass, built as
            ``model_class(encoder, decoder, beta=beta, seed=seed)``.
        beta: The recipe's beta.
        seed: The noise seed given to both models.

    Returns:
        Whether the step matches.

    Introduced in notebooks/07_vae_training.ipynb.
    """
    name = "check_vae_train_step"
    images = fixed_images()
    with float32_policy():
        encoder, decoder = reference_networks()
        reference = vae.VAE(encoder, decoder, beta=beta, seed=seed)
        reference_logs, reference_changes = _one_step(reference, images)
        encoder, decoder = reference_networks()
        try:
            model = model_class(encoder, decoder, beta=beta, seed=seed)
            logs, changes = _one_step(model, images)
        except NotImplementedError:
            return report(name, False, NOT_IMPLEMENTED)
        except Exception as error:  # noqa: BLE001 - report any failure of the answer.
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            message = lines[-1][:200] if lines else ""
            hint = ""
            if "numpy" in message.lower() or "symbolic" in message.lower():
                hint = " (train_step runs as a tf.function: use tf or keras.ops)"
            elif "No gradients provided" in message:
                hint = " (compute the loss inside the `with tf.GradientTape()` block)"
            return report(
                name,
                False,
                f"your train_step raised {type(error).__name__}: {message}{hint}",
            )
    if not isinstance(logs, dict) or "loss" not in logs:
        return report(
            name,
            False,
            f"train_step returned {logs!r}; return a dict of metrics with a 'loss' "
            "entry, e.g. {'loss': self.loss_tracker.result()}",
        )
    if len(changes) != len(reference_changes):
        return report(
            name,
            False,
            f"your model has {len(changes)} trainable weights, the reference "
            f"{len(reference_changes)}: train the encoder and decoder given",
        )
    encoder_count = len(encoder.trainable_weights)
    moved = [float(np.max(np.abs(c), initial=0.0)) > 0 for c in changes]
    if not any(moved):
        return report(
            name,
            False,
            "no weight changed: apply the gradients with "
            "self.optimizer.apply_gradients(zip(gradients, variables))",
        )
    if not any(moved[:encoder_count]):
        return report(
            name,
            False,
            "no gradient reached the encoder: its weights did not change. Compute "
            "the encoder's outputs inside the tape, sample z = mean + exp(log_var "
            "/ 2) * eps with tf ops (no NumPy, no tf.stop_gradient), and take the "
            "gradient with respect to self.trainable_variables",
        )
    if not any(moved[encoder_count:]):
        return report(
            name,
            False,
            "the decoder's weights did not change: take the gradient with respect "
            "to self.trainable_variables (encoder and decoder)",
        )
    loss, expected = float(np.asarray(logs["loss"])), float(reference_logs["loss"])
    terms = {
        "you forgot the KL term": float(reference_logs["reconstruction"]),
        "your loss is summed over the batch; the reference averages": BATCH * expected,
    }
    if abs(loss - expected) > 1e-5 * abs(expected):
        for message, value in terms.items():
            if abs(loss - value) <= 1e-5 * abs(value):
                return report(name, False, f"{message} (loss {loss:.4f})")
        return report(
            name,
            False,
            f"the loss of your step is {loss:.4f}, the reference's {expected:.4f}: "
            "draw eps = keras.random.normal(ops.shape(mean), seed=self.noise_seed), "
            "z = sample_latent(mean, log_var, eps), and return the mean negative "
            "ELBO of the batch (beta = self.beta) from loss_tracker",
        )
    if _same([-c for c in changes], reference_changes):
        return report(
            name,
            False,
            "your step went uphill: minimise the negative ELBO (apply the gradients "
            "of the loss, not of -loss)",
        )
    if not _same(changes, reference_changes):
        return report(
            name,
            False,
            "the loss is right but the weights moved differently: take the "
            "gradient of that loss inside one tape and apply it once",
        )
    return report(
        name, True, f"loss {loss:.4f} and all {len(changes)} weight updates match"
    )
