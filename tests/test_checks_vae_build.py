"""Tests for the VAE build checks of notebooks/07_vae_training.ipynb.

Each check must pass the reference answer (written here as the notebook's
solution is) and fail typical wrong answers with feedback that names the
mistake. The loss's reference value is recomputed here in NumPy, independently
of the checks. The exercises at the end of the notebook (IWAE bound, bits per
pixel, ELBO gap) are tested here too, on the kind of data the notebook passes.
"""

import math
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers, ops

from course_lib import checks, losses
from course_lib.checks import vae_build, vae_networks

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


# ------------------------------------------------ the reference answers


def build_encoder(latent_dim, head_activation=None, single=False):
    image = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(image)
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    if single:
        return keras.Model(image, layers.Dense(2 * latent_dim)(x))
    mean = layers.Dense(latent_dim, name="mean")(x)
    logvar = layers.Dense(latent_dim, activation=head_activation, name="logvar")(x)
    return keras.Model(image, [mean, logvar])


def build_decoder(latent_dim, last_activation=None, flat=False, units=128):
    z = keras.Input(shape=(latent_dim,))
    x = layers.Dense(units, activation="relu")(z)
    x = layers.Dense(7 * 7 * 32, activation="relu")(x)
    if flat:
        return keras.Model(z, layers.Dense(784)(x))
    x = layers.Reshape((7, 7, 32))(x)
    x = layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(x)
    logits = layers.Conv2D(1, 3, padding="same", activation=last_activation)(x)
    return keras.Model(z, logits)


def sample_latent(mean, logvar, eps):
    return mean + ops.exp(logvar / 2) * eps


def negative_elbo(x, logits, mean, logvar, beta=1.0):
    nll = ops.sum(ops.softplus(logits) - x * logits, axis=(1, 2, 3))
    kl = 0.5 * ops.sum(ops.exp(logvar) + mean**2 - 1.0 - logvar, axis=1)
    return ops.mean(nll + beta * kl)


class MyVAE(keras.Model):
    """The notebook's class, with ``train_step`` as the reference solution."""

    variant = "reference"

    def __init__(self, encoder, decoder, beta=1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = int(decoder.inputs[0].shape[-1])
        self.beta = float(beta)
        self.noise_seed = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker]

    def call(self, images, training=False):
        return self.decoder(self.encoder(images, training=training)[0])

    def train_step(self, images):
        variant = self.variant
        with tf.GradientTape() as tape:
            mean, logvar = self.encoder(images, training=True)
            if variant == "stop_gradient":
                mean, logvar = tf.stop_gradient(mean), tf.stop_gradient(logvar)
            eps = keras.random.normal(ops.shape(mean), seed=self.noise_seed)
            z = sample_latent(mean, logvar, eps)
            logits = self.decoder(z, training=True)
            beta = 0.0 if variant == "no_kl" else self.beta
            loss = negative_elbo(images, logits, mean, logvar, beta=beta)
            if variant == "batch_sum":
                loss = loss * ops.cast(ops.shape(images)[0], loss.dtype)
            target = -loss if variant == "uphill" else loss
        variables = self.trainable_variables
        if variant == "decoder_only":
            variables = self.decoder.trainable_variables
        gradients = tape.gradient(target, variables)
        if variant != "no_apply":
            self.optimizer.apply_gradients(zip(gradients, variables, strict=True))
        self.loss_tracker.update_state(loss)
        if variant == "no_dict":
            return loss
        return {"loss": self.loss_tracker.result()}


def _variant(name):
    return type(f"MyVAE_{name}", (MyVAE,), {"variant": name})


def _expect(checker, answer, words, capsys):
    passed = checker(answer)
    out = capsys.readouterr().out
    if words is None:
        assert passed is True and out.startswith("PASS"), out
    else:
        assert passed is False and out.startswith("FAIL"), out
        assert words in out, f"feedback {out!r} should say {words!r}"


def _stub(*args, **kwargs):
    raise NotImplementedError


# ------------------------------------------------------------ the tests


TESTED = {  # Each check of vae_build and the test below that covers it.
    "check_vae_encoder": "test_encoder_check",
    "check_vae_sample": "test_sample_check",
    "check_vae_decoder": "test_decoder_check",
    "check_vae_negative_elbo": "test_negative_elbo_check",
    "check_vae_train_step": "test_train_step_check",
}


def test_every_check_is_exported_and_tested():
    assert set(vae_build.__all__) == set(TESTED)
    for name, test_name in TESTED.items():
        assert getattr(checks, name) is getattr(vae_build, name)
        assert callable(globals()[test_name])


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (build_encoder, None),
        (_stub, "not implemented"),
        (lambda d: build_encoder(d, single=True), "returns one tensor"),
        (lambda d: build_encoder(d, head_activation="relu"), "linear"),
        (lambda d: build_encoder(16), "use latent_dim"),
        (lambda d: np.zeros(3), "must return a keras.Model"),
    ],
)
def test_encoder_check(answer, words, capsys):
    _expect(checks.check_vae_encoder, answer, words, capsys)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (build_decoder, None),
        (_stub, "not implemented"),
        (lambda d: build_decoder(d, last_activation="sigmoid"), "ends with a sigmoid"),
        (lambda d: build_decoder(d, flat=True), "shape (None, 784)"),
        (lambda d: build_decoder(d, units=64), "weights, the reference"),
        (lambda d: build_decoder(d, last_activation="relu"), "logits differ"),
    ],
)
def test_decoder_check(answer, words, capsys):
    _expect(checks.check_vae_decoder, answer, words, capsys)


def _numpy_sample(mean, logvar, eps):
    return np.asarray(mean) + np.exp(np.asarray(logvar) / 2) * np.asarray(eps)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (sample_latent, None),
        (_stub, "not implemented"),
        (lambda m, v, e: m + ops.exp(v) * e, "variance"),
        (lambda m, v, e: m + v * e, "log_var is not sigma"),
        (lambda m, v, e: m + ops.exp(v / 2), "multiply sigma by eps"),
        (_numpy_sample, "no gradient reaches mean and log_var"),
        (
            lambda m, v, e: tf.stop_gradient(m + tf.exp(v / 2) * e),
            "no gradient reaches",
        ),
        (lambda m, v, e: m + tf.stop_gradient(tf.exp(v / 2)) * e, "log_var"),
    ],
)
def test_sample_check(answer, words, capsys):
    _expect(checks.check_vae_sample, answer, words, capsys)


def test_the_loss_reference_is_the_numpy_formula():
    fixture = vae_networks.loss_fixture()
    x, logits = fixture["x"].reshape(8, -1), fixture["logits"].reshape(8, -1)
    mean, logvar = fixture["mean"], fixture["logvar"]
    nll = np.sum(np.logaddexp(0, logits) - x * logits, axis=1)
    kl = 0.5 * np.sum(np.exp(logvar) + mean**2 - 1 - logvar, axis=1)
    expected = np.mean(nll + kl)
    assert float(losses.negative_elbo(*fixture.values())) == pytest.approx(
        expected, rel=1e-12
    )
    assert np.mean(kl) > 0.01 * np.mean(nll) and np.all(np.isfinite(logits))


def _elbo_parts(x, logits, mean, logvar):
    nll = ops.sum(ops.softplus(logits) - x * logits, axis=(1, 2, 3))
    kl = 0.5 * ops.sum(ops.exp(logvar) + mean**2 - 1.0 - logvar, axis=1)
    return nll, kl


def _wrong_loss(kind):
    def loss(x, logits, mean, logvar, beta=1.0):
        nll, kl = _elbo_parts(x, logits, mean, logvar)
        if kind == "batch_sum":
            return ops.sum(nll + beta * kl)
        if kind == "sigma_kl":
            sigma = ops.exp(logvar / 2)
            kl = 0.5 * ops.sum(ops.exp(logvar) + mean**2 - 1.0 - sigma, axis=1)
        if kind == "mse":
            nll = ops.sum((x - ops.sigmoid(logits)) ** 2, axis=(1, 2, 3))
        if kind == "no_kl":
            kl = 0.0 * kl
        if kind == "pixel_mean":
            nll = nll / 784
        if kind == "beta_everywhere":
            return ops.mean(beta * (nll + kl))
        if kind == "no_beta":
            return ops.mean(nll + kl)
        return ops.mean(nll + beta * kl)

    return loss


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (negative_elbo, None),
        (_stub, "not implemented"),
        (_wrong_loss("batch_sum"), "summed over the batch"),
        (_wrong_loss("sigma_kl"), "sigma where log sigma^2"),
        (_wrong_loss("mse"), "not the Bernoulli NLL"),
        (_wrong_loss("no_kl"), "forgot the KL"),
        (_wrong_loss("pixel_mean"), "mean over pixels"),
        (_wrong_loss("beta_everywhere"), "KL term only"),
        (_wrong_loss("no_beta"), "ignores beta"),
    ],
)
def test_negative_elbo_check(answer, words, capsys):
    _expect(checks.check_vae_negative_elbo, answer, words, capsys)


@pytest.mark.parametrize(
    ("variant", "words"),
    [
        ("reference", None),
        ("stop_gradient", "no gradient reached the encoder"),
        ("decoder_only", "no gradient reached the encoder"),
        ("no_apply", "no weight changed"),
        ("no_kl", "forgot the KL"),
        ("batch_sum", "summed over the batch"),
        ("uphill", "uphill"),
        ("no_dict", "return a dict"),
    ],
)
def test_train_step_check(variant, words, capsys):
    _expect(checks.check_vae_train_step, _variant(variant), words, capsys)


def test_train_step_check_reports_a_stub(capsys):
    class Stub(MyVAE):
        def train_step(self, images):
            raise NotImplementedError

    _expect(checks.check_vae_train_step, Stub, "not implemented", capsys)


def test_the_checks_leave_the_dtype_policy_and_numpy_state_alone(capsys):
    state = np.random.get_state()[1].copy()
    keras.config.set_dtype_policy("float32")
    assert checks.check_vae_decoder(build_decoder)
    assert keras.config.dtype_policy().name == "float32"
    assert np.array_equal(np.random.get_state()[1], state)


# ------------------------------------ the exercises at the end of the notebook

LOG_WEIGHTS = [-1001.3, -999.8, -1000.4, -1003.0, -1000.1]  # as in the notebook
IWAE_IMAGES = np.array([-88.2, -101.7, -79.4, -95.0])
ELBO_IMAGES = np.array([-97.1, -110.3, -90.2, -99.8])


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (np.log(np.mean(np.exp(np.array(LOG_WEIGHTS) + 1000))) - 1000, None),
        (float(np.mean(LOG_WEIGHTS)), "mean log-weight"),
        (np.log(np.sum(np.exp(np.array(LOG_WEIGHTS) + 1000))) - 1000, "log K"),
        (max(LOG_WEIGHTS), "largest log-weight"),
        (float(np.log(np.mean(np.exp(LOG_WEIGHTS)))), "inf or NaN"),
    ],
)
def test_iwae_bound_check(answer, words, capsys):
    _expect(lambda a: checks.check_iwae_bound(a, LOG_WEIGHTS), answer, words, capsys)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (84.0 / (784 * math.log(2)), None),
        (-84.0 / (784 * math.log(2)), "wrong sign"),
        (84.0 / 784, "nats per pixel"),
        (84.0 / math.log(2), "bits per image"),
    ],
)
def test_bits_per_pixel_check(answer, words, capsys):
    _expect(lambda a: checks.check_bits_per_pixel(a, -84.0), answer, words, capsys)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (float(np.sum(IWAE_IMAGES - ELBO_IMAGES) / 4), None),
        (float(np.sum(ELBO_IMAGES - IWAE_IMAGES) / 4), "wrong sign"),
        (float(np.mean(IWAE_IMAGES)), "that is the IWAE bound"),
        (float(np.max(IWAE_IMAGES - ELBO_IMAGES)), "largest gap"),
    ],
)
def test_elbo_gap_check(answer, words, capsys):
    _expect(
        lambda a: checks.check_elbo_gap(a, IWAE_IMAGES, ELBO_IMAGES),
        answer,
        words,
        capsys,
    )
