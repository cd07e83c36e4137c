"""The mixed_float16 path a T4 takes, checked on the CPU: a GAN step and a VAE step
match the float32 step, an overflowing step is skipped and lowers the loss scale,
and the global dtype policy is left as it was.

How close is "match"? float16 keeps 11 significant bits: its unit roundoff is
u = 2**-11 ~ 4.9e-4 (about 3.3 decimal digits). Under ``mixed_float16`` each
layer rounds its inputs and weights to float16 (a relative error of u each) and
accumulates its sums in float32; the errors of a few layers add up, and the loss
(computed in float32 from float32 output layers) sits at the end of them. We
allow a relative error of 20 u ~ 1e-2 on each loss (measured: ~4e-5).

A gradient is looser: each entry is a sum over the batch and the pixels of terms
of both signs, each carrying an error of a few u, so its relative error is u
times the cancellation ratio sum|terms| / |sum|, which is in the tens here; and
G's gradient also runs backwards through D in float16. We allow 300 u ~ 0.15 in
the L2 norm over each variable (measured on the GAN: 0.07 % to 4.4 %, the most in
G). Every mistake worth catching is far beyond that: a loss scale left in the
gradient multiplies it by 32768, one divided out twice by 1/32768, and float16
gradients that underflow without scaling lose whole entries.

Adam is blind to a wrong gradient scale (its step g / sqrt(v) does not change
when g is multiplied by 32768), so the gradients are compared through SGD,
whose step -lr * g would be 32768 times too large if the loss scale were not
divided out again.
"""

import keras
import numpy as np
import pytest

from course_lib import gan, vae

UNIT_ROUNDOFF = 2.0**-11  # float16: 11 significant bits.
TOLERANCE = 20 * UNIT_ROUNDOFF  # ~1e-2 on a loss, derived in the module docstring.
GRADIENT_TOLERANCE = 300 * UNIT_ROUNDOFF  # ~0.15 on a gradient, likewise.
BATCH = 16  # The VAE's batch.
# The GAN's: float16 convolutions are slow on a CPU (a GAN step of 16 images takes
# about 5 s here, one of 4 about 1 s), and 4 images measure the same errors.
GAN_BATCH = 4
LATENT_DIM = 8


@pytest.fixture(autouse=True)
def policy_is_restored():
    """Every test here must leave the global dtype policy as it found it."""
    before = keras.mixed_precision.global_policy().name
    yield
    assert keras.mixed_precision.global_policy().name == before


def _numpy(variables):
    return [np.array(v, dtype=np.float64) for v in variables]


def _relative_error(actual, expected):
    return np.linalg.norm(actual - expected) / max(np.linalg.norm(expected), 1e-30)


def _images(low, count=BATCH, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(low, 1.0, (count, 28, 28, 1)).astype("float32")


def _gan_pair():
    """The same DCGAN (same weights, same noise seed) in float32 and float16."""
    models = {}
    for precision in ("float32", "mixed_float16"):
        models[precision] = gan.build_gan(
            latent_dim=LATENT_DIM,
            precision=precision,
            jit_compile=False,
            steps_per_execution=1,
            seed=0,
        )
        # Dropout draws its masks in the layer's compute dtype, so the two
        # precisions would drop different units; the step is compared without it.
        for layer in models[precision].discriminator.layers:
            if isinstance(layer, keras.layers.Dropout):
                layer.rate = 0.0
    models["mixed_float16"].set_weights(models["float32"].get_weights())
    return models["float32"], models["mixed_float16"]


def _vae_pair():
    models = {
        precision: vae.build_vae(
            4, precision=precision, jit_compile=False, steps_per_execution=1, seed=0
        )
        for precision in ("float32", "mixed_float16")
    }
    models["mixed_float16"].set_weights(models["float32"].get_weights())
    return models["float32"], models["mixed_float16"]


def _gan_variables(model):
    return model.generator.trainable_variables + model.discriminator.trainable_variables


def test_float16_models_compute_in_float16_with_loss_scaling():
    _, half = _gan_pair()
    conv = [layer for layer in half.generator.layers if "conv" in layer.name][0]
    assert conv.compute_dtype == "float16" and conv.variable_dtype == "float32"
    assert half.generator.output.dtype == "float32"
    for optimizer in (half.d_optimizer, half.g_optimizer):
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    _, half_vae = _vae_pair()
    assert isinstance(half_vae.optimizer, keras.optimizers.LossScaleOptimizer)


def test_gan_train_step_in_float16_matches_float32():
    # train_step draws z from each model's noise seed; both start from seed 0,
    # so both steps see the same z (checked through the equal seed states).
    full, half = _gan_pair()
    np.testing.assert_array_equal(
        np.array(full.noise_seed.state), np.array(half.noise_seed.state)
    )
    before = _numpy(_gan_variables(full))
    real = _images(-1.0, GAN_BATCH)
    logs = {
        name: model.train_step(real) for name, model in (("32", full), ("16", half))
    }
    for key in ("d_loss", "g_loss"):
        expected, actual = float(logs["32"][key]), float(logs["16"][key])
        assert actual == pytest.approx(expected, rel=TOLERANCE), key
    # Adam's first step is lr * g / (|g| + eps), about +-lr whatever |g| is: an
    # entry whose gradient is below float16's rounding may flip sign (a 2 lr
    # difference), every other one agrees exactly. Measured: 1-6 % flip.
    rate = float(full.g_optimizer.learning_rate)
    for start, w32, w16 in zip(
        before, _numpy(_gan_variables(full)), _numpy(_gan_variables(half)), strict=True
    ):
        assert np.isfinite(w16).all()
        step32, step16 = w32 - start, w16 - start
        assert np.abs(step16 - step32).max() <= 2 * rate * (1 + 1e-3)
        assert np.mean(np.abs(step16 - step32) <= 0.1 * rate) >= 0.9


def test_gan_gradients_in_float16_match_float32_through_sgd():
    full, half = _gan_pair()
    rate = 1e-2
    full.compile(
        d_optimizer=keras.optimizers.SGD(rate), g_optimizer=keras.optimizers.SGD(rate)
    )
    half.compile(
        d_optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(rate)),
        g_optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(rate)),
    )
    z = np.random.default_rng(1).standard_normal((GAN_BATCH, LATENT_DIM))
    z = z.astype("float32")
    real = _images(-1.0, GAN_BATCH)
    before = _numpy(_gan_variables(full))
    for model in (full, half):
        model.d_step(real, z)
        model.g_step(z)
    assert float(half.d_optimizer.scale_loss(1.0)) > 1.0  # the loss was scaled
    for start, w32, w16 in zip(
        before, _numpy(_gan_variables(full)), _numpy(_gan_variables(half)), strict=True
    ):
        assert _relative_error(w16 - start, w32 - start) < GRADIENT_TOLERANCE


def test_vae_train_step_in_float16_matches_float32():
    full, half = _vae_pair()
    images = np.round(_images(0.0))
    before = _numpy(full.trainable_variables)
    logs = {
        name: model.train_step(images) for name, model in (("32", full), ("16", half))
    }
    for key in ("loss", "reconstruction", "kl"):
        expected, actual = float(logs["32"][key]), float(logs["16"][key])
        assert actual == pytest.approx(expected, rel=TOLERANCE), key
    rate = float(full.optimizer.learning_rate)
    for start, w32, w16 in zip(
        before,
        _numpy(full.trainable_variables),
        _numpy(half.trainable_variables),
        strict=True,
    ):
        step32, step16 = w32 - start, w16 - start
        assert np.isfinite(w16).all()
        assert np.mean(np.abs(step16 - step32) <= 0.1 * rate) >= 0.9


def test_vae_gradients_in_float16_match_float32_through_sgd():
    full, half = _vae_pair()
    full.compile(optimizer=keras.optimizers.SGD(1e-2), auto_scale_loss=False)
    half.compile(
        optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(1e-2)),
        auto_scale_loss=False,
    )
    images = np.round(_images(0.0))
    before = _numpy(full.trainable_variables)
    for model in (full, half):
        model.train_step(images)
    for start, w32, w16 in zip(
        before,
        _numpy(full.trainable_variables),
        _numpy(half.trainable_variables),
        strict=True,
    ):
        assert _relative_error(w16 - start, w32 - start) < GRADIENT_TOLERANCE


# A loss scale this large makes float16's backward pass overflow (its largest
# value is 65504), whatever the gradient.
HUGE_SCALE = 2.0**100


def test_an_overflowing_gan_step_is_skipped_and_lowers_the_loss_scale():
    _, half = _gan_pair()
    for optimizer in (half.d_optimizer, half.g_optimizer):
        optimizer.dynamic_scale.assign(HUGE_SCALE)
    before = _numpy(half.weights)
    # fit runs the compiled train_step, as training does. Two images: an overflow
    # needs no batch (and see GAN_BATCH).
    images = _images(-1.0, 2)
    history = half.fit(images, batch_size=2, epochs=1, verbose=0).history
    assert np.isfinite(history["d_loss"][0]) and np.isfinite(history["g_loss"][0])
    for optimizer in (half.d_optimizer, half.g_optimizer):
        assert float(optimizer.dynamic_scale) == HUGE_SCALE / 2
    after = _numpy(half.weights)
    trainable = {id(v) for v in _gan_variables(half)}
    for variable, old, new in zip(half.weights, before, after, strict=True):
        assert np.isfinite(new).all()
        if id(variable) in trainable:
            np.testing.assert_array_equal(new, old, err_msg=variable.path)
    # With an ordinary scale again, the next step trains.
    for optimizer in (half.d_optimizer, half.g_optimizer):
        optimizer.dynamic_scale.assign(2.0**15)
    half.fit(images, batch_size=2, epochs=1, verbose=0)
    assert any(
        not np.array_equal(old, new)
        for old, new in zip(after, _numpy(half.weights), strict=True)
    )


def test_an_overflowing_vae_step_is_skipped_and_lowers_the_loss_scale():
    _, half = _vae_pair()
    half.optimizer.dynamic_scale.assign(HUGE_SCALE)
    before = _numpy(half.trainable_variables)
    images = np.round(_images(0.0))
    history = half.fit(images, batch_size=BATCH, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    assert float(half.optimizer.dynamic_scale) == HUGE_SCALE / 2
    for old, new in zip(before, _numpy(half.trainable_variables), strict=True):
        assert np.isfinite(new).all()
        np.testing.assert_array_equal(new, old)


def test_builds_restore_the_global_policy():
    before = keras.mixed_precision.global_policy().name
    _gan_pair()
    _vae_pair()
    assert keras.mixed_precision.global_policy().name == before
    assert keras.layers.Dense(2).compute_dtype == "float32"
