"""Checks of the build exercises of notebooks/04_gan_toy.ipynb: the two MLPs,
the losses from logits and the ``train_step``, against ``course_lib.toy2d``.

Introduced in notebooks/04_gan_toy.ipynb.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from course_lib import losses, toy2d
from course_lib.checks.core import call, call_builder, rel_error, report
from course_lib.checks.toy_step import (
    D_LEARNING_RATE,
    G_LEARNING_RATE,
    STEP_MISTAKES,
    STEP_TOLERANCE,
    fixed_networks,
    reference_step,
    simulate_step,
    step_inputs,
    update_error,
    weights,
)
from course_lib.config import NOT_IMPLEMENTED

__all__ = [
    "check_toy_discriminator",
    "check_toy_generator",
    "check_toy_losses",
    "check_toy_train_step",
]


# ----------------------------------------------------------------- the networks


def _last_activation(model) -> str:
    """Return the name of the activation that the model's output passes through."""
    layer = model.layers[-1]
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "linear") if activation else "linear"


def _is_affine(model, in_dim: int) -> bool:
    """Whether ``model`` is affine: f(a) + f(b) = f(a + b) + f(0) on random points."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((16, in_dim)).astype(np.float32) for _ in range(2))
    zero = np.zeros_like(a)
    f = [np.asarray(model(x), np.float64) for x in (a, b, a + b, zero)]
    return np.allclose(f[0] + f[1], f[2] + f[3], atol=1e-4)


def _check_mlp(name, model, in_dim, out_dim, reference, role):
    """The checks both networks share; returns ``(passed, detail)``."""
    in_shape = tuple(model.inputs[0].shape) if model.inputs else None
    if in_shape != (None, in_dim):
        return False, (
            f"your {role}'s input has shape {in_shape}, expected (None, {in_dim}); "
            f"start it with keras.Input(({in_dim},))."
        )
    out_shape = tuple(model.output.shape)
    if out_shape != (None, out_dim):
        return False, (
            f"your {role}'s output has shape {out_shape}, expected (None, {out_dim}); "
            f"end it with layers.Dense({out_dim})."
        )
    activation = _last_activation(model)
    if activation != "linear":
        why = (
            "the ring has radius 2, outside its range; leave the last Dense linear"
            if role == "generator"
            else "return a logit, not a probability; the losses take logits"
        )
        return False, f"your {role}'s output passes through {activation}: {why}."
    if _is_affine(model, in_dim):
        return False, (
            f"your {role} is affine (its hidden layers have no activation): it "
            "cannot bend the plane; add activation='relu' to the hidden layers."
        )
    count, expected = model.count_params(), reference.count_params()
    if count != expected:
        one_layer = (in_dim * 128 + 128) + (128 * out_dim + out_dim)
        hint = (
            "you have one hidden layer; the reference has two of 128 units"
            if count == one_layer
            else "the reference has two hidden layers of 128 units"
        )
        return False, f"{count:,} parameters, the reference has {expected:,}: {hint}."
    return True, f"shapes (None, {in_dim}) -> (None, {out_dim}), {count:,} parameters."


def check_toy_generator(build_fn) -> bool:
    """Check the learner's ``build_toy_generator(latent_dim)``.

    Args:
        build_fn: A function of ``latent_dim`` returning a ``keras.Model``.

    Returns:
        Whether it matches ``toy2d.build_generator`` in shapes, output layer,
        non-linearity and parameter count (for latent sizes 2 and 5).

    Introduced in notebooks/04_gan_toy.ipynb.
    """
    name = "check_toy_generator"
    first_detail = None
    for latent_dim in (toy2d.LATENT_DIM, 5):
        model, problem = call_builder(build_fn, latent_dim)
        if problem is not None:
            return report(name, False, problem)
        reference = toy2d.build_generator(latent_dim)
        passed, detail = _check_mlp(name, model, latent_dim, 2, reference, "generator")
        if not passed:
            if latent_dim != toy2d.LATENT_DIM and "input" in detail:
                detail = f"with latent_dim={latent_dim}: {detail} Use the argument."
            return report(name, False, detail)
        first_detail = first_detail or detail
    return report(name, True, first_detail)


def check_toy_discriminator(build_fn) -> bool:
    """Check the learner's ``build_toy_discriminator()``.

    Args:
        build_fn: A function of no arguments returning a ``keras.Model``.

    Returns:
        Whether it matches ``toy2d.build_discriminator``: input ``(None, 2)``, a
        linear ``(None, 1)`` logit output, non-linear, the same parameter count.

    Introduced in notebooks/04_gan_toy.ipynb.
    """
    name = "check_toy_discriminator"
    model, problem = call_builder(build_fn)
    if problem is not None:
        return report(name, False, problem)
    reference = toy2d.build_discriminator()
    return report(name, *_check_mlp(name, model, 2, 1, reference, "discriminator"))


# ------------------------------------------------------------------- the losses


def _loss_inputs():
    rng = np.random.default_rng(4)
    real = (rng.standard_normal((6, 1)) * 3).astype(np.float32)
    fake = (rng.standard_normal((5, 1)) * 3 - 1).astype(np.float32)
    return real, fake


def _softplus(x):
    return np.logaddexp(0.0, np.asarray(x, np.float64))


def _prob(x):
    # What binary_crossentropy without from_logits does to a logit: clip it.
    return np.clip(np.asarray(x, np.float64), 1e-7, 1 - 1e-7)


SUMMED = "your loss is summed over the batch, the reference averages (ops.mean)"
PROBABILITIES = "you used probabilities, not logits: use softplus or from_logits"
D_LOSS_MISTAKES = (
    (lambda r, f: np.sum(_softplus(-r)) + np.sum(_softplus(f)), SUMMED),
    (
        lambda r, f: np.mean(_softplus(r)) + np.mean(_softplus(-f)),
        "you swapped the real and fake labels: real points should score high",
    ),
    (
        lambda r, f: np.mean(-np.log(_prob(r))) + np.mean(-np.log(1 - _prob(f))),
        PROBABILITIES,
    ),
    (
        lambda r, f: np.mean(_softplus(-np.concatenate([r, f]))),
        "the fake term is missing or has the real label",
    ),
)
G_LOSS_MISTAKES = (
    (
        lambda f: np.mean(-_softplus(f)),
        "you used the minimax generator loss, mean(log(1 - D(G(z)))); the "
        "non-saturating one is mean(-log D(G(z))) = mean(softplus(-f))",
    ),
    (lambda f: np.sum(_softplus(-f)), SUMMED),
    (
        lambda f: np.mean(_softplus(f)),
        "you swapped the labels: G wants fakes called real",
    ),
    (lambda f: np.mean(-np.log(_prob(f))), PROBABILITIES),
)


def _verdict(result, expected, mistakes, args, tolerance=1e-5):
    """Return ``(passed, detail)`` for one computed loss."""
    if result.shape != ():
        if result.size != 1:
            return False, f"returned shape {result.shape}; return one number (a mean)."
        result = result.reshape(())
    if not np.isfinite(result):
        return False, "returned inf or NaN; compute the loss with softplus on logits."
    error = rel_error(result, expected)
    if error <= tolerance:
        return True, f"relative error {error:.1e}"
    for wrong, message in mistakes:
        with np.errstate(all="ignore"):
            if rel_error(result, wrong(*args)) <= tolerance:
                return False, message
    return False, f"relative error {error:.1e}; compare with notebook 02's formulas"


def check_toy_losses(d_loss_fn, g_loss_fn) -> bool:
    """Check the learner's discriminator and generator losses from logits.

    Args:
        d_loss_fn: ``d_loss_fn(real_logits, fake_logits)`` returning a scalar.
        g_loss_fn: ``g_loss_fn(fake_logits)`` returning a scalar.

    Returns:
        Whether both equal ``losses.discriminator_loss`` and the non-saturating
        ``losses.generator_loss`` on fixed logits (real and fake batches of
        different sizes, shape ``(batch, 1)``).

    Introduced in notebooks/04_gan_toy.ipynb.
    """
    name = "check_toy_losses"
    real, fake = _loss_inputs()
    d_result, problem = call(d_loss_fn, real.copy(), fake.copy())
    if problem is not None:
        return report(name, False, f"discriminator loss: {problem}")
    expected = float(losses.discriminator_loss(real, fake))
    passed, detail = _verdict(d_result, expected, D_LOSS_MISTAKES, (real, fake))
    if not passed:
        return report(name, False, f"discriminator loss: {detail}.")
    g_result, problem = call(g_loss_fn, fake.copy())
    if problem is not None:
        return report(name, False, f"generator loss: {problem}")
    expected = float(losses.generator_loss(fake, "non_saturating"))
    g_passed, g_detail = _verdict(g_result, expected, G_LOSS_MISTAKES, (fake,))
    if not g_passed:
        return report(name, False, f"generator loss: {g_detail}.")
    return report(name, True, f"D loss {detail}; G loss {g_detail}.")


def _learner_step(model_class):
    """Run one learner step; return ``(before, after, logs, problem)``."""
    generator, discriminator = fixed_networks()
    before = weights(generator, discriminator)
    real, z = step_inputs()
    draws = []

    def fixed_noise(batch_size):
        draws.append(batch_size)
        return tf.constant(z)

    try:
        model = model_class(generator, discriminator, latent_dim=toy2d.LATENT_DIM)
        model.compile(
            d_optimizer=keras.optimizers.SGD(D_LEARNING_RATE),
            g_optimizer=keras.optimizers.SGD(G_LEARNING_RATE),
        )
        model.sample_latent = fixed_noise
        logs = model.train_step(tf.constant(real))
    except NotImplementedError:
        return before, None, None, NOT_IMPLEMENTED
    except Exception as error:  # noqa: BLE001 - report any failure of the answer.
        text = str(error)
        if "originally built with" in text or "Unknown variable" in text:
            return before, None, None, SAME_OPTIMIZER
        first = text.splitlines()[0][:200] if text else ""
        return before, None, None, f"train_step raised {type(error).__name__}: {first}"
    if not draws:
        return before, None, None, NO_SAMPLE_LATENT
    return before, weights(generator, discriminator), logs, None


SAME_OPTIMIZER = (
    "you used the same optimizer for both networks: D's step uses "
    "self.d_optimizer and G's step self.g_optimizer"
)
NO_SAMPLE_LATENT = (
    "train_step never called self.sample_latent(batch_size): draw the noise with "
    "it, so that the check can fix it"
)
RETURN_LOGS = (
    "the updates are right, but train_step must return {metric.name: "
    "metric.result() for metric in self.metrics}, with d_loss and g_loss"
)


def _diagnose(before, after):
    """Name the mistake behind a wrong update, or describe the difference."""
    for k, net, optimizer in ((0, "G", "g"), (1, "D", "d")):
        if all(np.array_equal(a, b) for a, b in zip(before[k], after[k], strict=True)):
            return (
                f"{net}'s weights did not change: apply {net}'s gradient with "
                f"self.{optimizer}_optimizer"
            )
    for options, message in STEP_MISTAKES:
        wrong = simulate_step(**options)
        if max(update_error(before[k], after[k], wrong[k]) for k in (0, 1)) <= (
            STEP_TOLERANCE
        ):
            return message
    reference = reference_step()[0]
    g_error, d_error = (update_error(before[k], after[k], reference[k]) for k in (0, 1))
    return (
        f"the updates differ from the reference (relative error G {g_error:.1e}, D "
        f"{d_error:.1e}); check the losses and which variables each step updates"
    )


def check_toy_train_step(model_class) -> bool:
    """Check the learner's ``train_step`` by one step on fixed weights and data.

    The class is built as ``model_class(generator, discriminator, latent_dim=2)``
    and compiled with ``d_optimizer`` and ``g_optimizer`` (two plain SGDs); its
    ``sample_latent`` is replaced by one that returns a fixed noise batch. After
    one ``train_step`` on a fixed batch, both networks' updates are compared with
    ``toy2d.ToyGAN``'s.

    Args:
        model_class: The learner's ``keras.Model`` subclass.

    Returns:
        Whether the updates and the returned losses match the reference.

    Introduced in notebooks/04_gan_toy.ipynb.
    """
    name = "check_toy_train_step"
    before, after, logs, problem = _learner_step(model_class)
    if problem is not None:
        return report(name, False, problem)
    reference, reference_logs = reference_step()
    errors = [update_error(before[k], after[k], reference[k]) for k in (0, 1)]
    if max(errors) > STEP_TOLERANCE:
        return report(name, False, _diagnose(before, after))
    if not isinstance(logs, dict) or not {"d_loss", "g_loss"} <= set(logs):
        return report(name, False, RETURN_LOGS)
    for key in ("d_loss", "g_loss"):
        value, expected = float(logs[key]), float(reference_logs[key])
        if rel_error(value, expected) > 1e-4:
            return report(
                name,
                False,
                (
                    f"the updates are right, but the returned {key} is {value:.4f}, "
                    f"expected {expected:.4f}: track the losses you differentiated"
                ),
            )
    detail = f"update error G {errors[0]:.0e}, D {errors[1]:.0e}"
    return report(name, True, f"one step matches toy2d.ToyGAN ({detail})")
