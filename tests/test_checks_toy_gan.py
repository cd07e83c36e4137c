"""Tests for course_lib.checks.toy_gan: each check passes the reference and fails
typical wrong answers with a message that names the mistake."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers, ops

from course_lib import checks, losses, toy2d
from course_lib.checks import toy_step

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _verdict(check, capsys, *answer):
    passed = check(*answer)
    return passed, capsys.readouterr().out


def _mlp(in_dim, out_dim, hidden=(128, 128), activation="relu", last=None):
    x = keras.Input((in_dim,))
    h = x
    for units in hidden:
        h = layers.Dense(units, activation=activation)(h)
    return keras.Model(x, layers.Dense(out_dim, activation=last)(h))


def _not_implemented(*args):
    raise NotImplementedError


# ------------------------------------------------------------------ networks


def test_generator_check_passes_the_reference(capsys):
    passed, out = _verdict(checks.check_toy_generator, capsys, toy2d.build_generator)
    assert passed and out.startswith("PASS") and "(None, 2)" in out


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda d: _mlp(d, 2, last="tanh"), "tanh"),
        (lambda d: _mlp(d, 2, hidden=(128,)), "one hidden layer"),
        (lambda d: _mlp(d, 3), "output has shape (None, 3)"),
        (lambda d: _mlp(d, 2, activation=None), "affine"),
        (lambda d: _mlp(2, 2), "Use the argument"),
        (lambda d: _mlp(d, 2, hidden=(64, 64)), "two hidden layers of 128"),
        (_not_implemented, "not implemented"),
    ],
)
def test_generator_check_names_the_mistake(capsys, answer, message):
    passed, out = _verdict(checks.check_toy_generator, capsys, answer)
    assert not passed and out.startswith("FAIL") and message in out


def test_discriminator_check_passes_the_reference(capsys):
    passed, out = _verdict(
        checks.check_toy_discriminator, capsys, toy2d.build_discriminator
    )
    assert passed and out.startswith("PASS")


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda: _mlp(2, 1, last="sigmoid"), "not a probability"),
        (lambda: _mlp(2, 2), "output has shape (None, 2)"),
        (lambda: _mlp(2, 1, hidden=(128,)), "one hidden layer"),
        (lambda: _mlp(3, 1), "input has shape (None, 3)"),
        (lambda: "model", "not a keras.Model"),
    ],
)
def test_discriminator_check_names_the_mistake(capsys, answer, message):
    passed, out = _verdict(checks.check_toy_discriminator, capsys, answer)
    assert not passed and message in out


# -------------------------------------------------------------------- losses


def _sp(x):
    return ops.softplus(x)


def d_right(real, fake):
    # Written out independently of course_lib.losses.
    return ops.mean(_sp(-real)) + ops.mean(_sp(fake))


def g_right(fake):
    return ops.mean(_sp(-fake))


def test_losses_check_passes_hand_written_losses(capsys):
    passed, out = _verdict(checks.check_toy_losses, capsys, d_right, g_right)
    assert passed and out.startswith("PASS")
    assert checks.check_toy_losses(losses.discriminator_loss, losses.generator_loss)


BCE = keras.losses.BinaryCrossentropy()  # from_logits=False: the classic slip


@pytest.mark.parametrize(
    ("d_loss", "g_loss", "message"),
    [
        (lambda r, f: ops.sum(_sp(-r)) + ops.sum(_sp(f)), g_right, "summed"),
        (lambda r, f: ops.mean(_sp(r)) + ops.mean(_sp(-f)), g_right, "swapped"),
        (
            lambda r, f: BCE(ops.ones_like(r), r) + BCE(ops.zeros_like(f), f),
            g_right,
            "probabilities, not logits",
        ),
        (d_right, lambda f: ops.mean(-_sp(f)), "minimax"),
        (d_right, lambda f: ops.sum(_sp(-f)), "summed"),
        (d_right, lambda f: ops.mean(_sp(f)), "swapped"),
        (d_right, lambda f: BCE(ops.ones_like(f), f), "probabilities, not logits"),
        (d_right, lambda f: _sp(-f), "one number"),
        (_not_implemented, g_right, "not implemented"),
    ],
)
def test_losses_check_names_the_mistake(capsys, d_loss, g_loss, message):
    passed, out = _verdict(checks.check_toy_losses, capsys, d_loss, g_loss)
    assert not passed and out.startswith("FAIL") and message in out


# ---------------------------------------------------------------- train_step


def test_the_hand_simulated_step_equals_toygans_step():
    right_g, right_d = toy_step.simulate_step()
    (ref_g, ref_d), logs = toy_step.reference_step()
    for a, b in zip(right_g + right_d, ref_g + ref_d, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert set(logs) == {"d_loss", "g_loss"}
    # Each typical mistake moves the weights measurably.
    for options, _ in toy_step.STEP_MISTAKES:
        wrong_g, wrong_d = toy_step.simulate_step(**options)
        assert any(
            not np.allclose(a, b, rtol=1e-3)
            for a, b in zip(wrong_g + wrong_d, ref_g + ref_d, strict=True)
        ), options


class Learner(toy2d.ToyGAN):
    """A learner's train_step with switches for the typical mistakes."""

    d_on_all = g_on_all = g_first = same_optimizer = own_noise = False
    g_kind = "non_saturating"

    def _d_step(self, real, z):
        with tf.GradientTape() as tape:
            fake_logits = self.discriminator(self.generator(z))
            d_loss = losses.discriminator_loss(self.discriminator(real), fake_logits)
        net = self if self.d_on_all else self.discriminator
        variables = net.trainable_variables
        grads = tape.gradient(d_loss, variables)
        self.d_optimizer.apply_gradients(zip(grads, variables, strict=True))
        return d_loss

    def _g_step(self, z):
        with tf.GradientTape() as tape:
            g_loss = losses.generator_loss(
                self.discriminator(self.generator(z)), self.g_kind
            )
        net = self if self.g_on_all else self.generator
        variables = net.trainable_variables
        optimizer = self.d_optimizer if self.same_optimizer else self.g_optimizer
        grads = tape.gradient(g_loss, variables)
        optimizer.apply_gradients(zip(grads, variables, strict=True))
        return g_loss

    def train_step(self, real):
        if self.own_noise:
            z = keras.random.normal((32, 2))
        else:
            z = self.sample_latent(ops.shape(real)[0])
        if self.g_first:
            g_loss = self._g_step(z)
            d_loss = self._d_step(real, z)
        else:
            d_loss = self._d_step(real, z)
            g_loss = self._g_step(z)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}


def _learner(**switches):
    return type("Variant", (Learner,), switches)


def test_train_step_check_passes_the_reference_and_a_learner(capsys):
    passed, out = _verdict(checks.check_toy_train_step, capsys, toy2d.ToyGAN)
    assert passed and out.startswith("PASS")
    passed, out = _verdict(checks.check_toy_train_step, capsys, _learner())
    assert passed, out


@pytest.mark.parametrize(
    ("switches", "message"),
    [
        (dict(d_on_all=True), "D's step changed G's weights"),
        (dict(g_on_all=True), "G's step changed D's weights"),
        (dict(g_first=True), "G was updated before D"),
        (dict(same_optimizer=True), "same optimizer for both"),
        (dict(g_kind="minimax"), "minimax"),
        (dict(own_noise=True), "self.sample_latent"),
    ],
)
def test_train_step_check_names_the_mistake(capsys, switches, message):
    passed, out = _verdict(checks.check_toy_train_step, capsys, _learner(**switches))
    assert not passed and out.startswith("FAIL") and message in out, out


def test_train_step_check_names_a_stale_discriminator(capsys):
    class Stale(toy2d.ToyGAN):
        def train_step(self, real):
            z = self.sample_latent(32)
            with tf.GradientTape(persistent=True) as tape:
                fake_logits = self.discriminator(self.generator(z))
                d_loss = losses.discriminator_loss(
                    self.discriminator(real), fake_logits
                )
                g_loss = losses.generator_loss(fake_logits)
            d_vars = self.discriminator.trainable_variables
            g_vars = self.generator.trainable_variables
            g_grads = tape.gradient(g_loss, g_vars)
            d_grads = tape.gradient(d_loss, d_vars)
            self.d_optimizer.apply_gradients(zip(d_grads, d_vars, strict=True))
            self.g_optimizer.apply_gradients(zip(g_grads, g_vars, strict=True))
            return {}

    passed, out = _verdict(checks.check_toy_train_step, capsys, Stale)
    assert not passed and "before its update" in out, out


def test_train_step_check_reports_a_stub_and_a_missing_return(capsys):
    class Stub(toy2d.ToyGAN):
        def train_step(self, real):
            raise NotImplementedError

    passed, out = _verdict(checks.check_toy_train_step, capsys, Stub)
    assert not passed and "not implemented" in out

    class NoReturn(Learner):
        def train_step(self, real):
            super().train_step(real)

    passed, out = _verdict(checks.check_toy_train_step, capsys, NoReturn)
    assert not passed and "must return" in out
