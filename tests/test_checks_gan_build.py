"""Tests for course_lib.checks.gan_build and gan_step: each check passes the
reference solution of notebooks/05_gan_training.ipynb and fails typical wrong
answers, naming the mistake. The reference solution below is written here, layer
by layer and step by step, independently of course_lib.models and course_lib.gan."""

import keras
import pytest
import tensorflow as tf
from keras import layers

from course_lib import augment, checks, latents, losses
from course_lib.checks import gan_build


def build_generator(latent_dim):
    z = keras.Input(shape=(latent_dim,))
    x = layers.Dense(7 * 7 * 256, use_bias=False)(z)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(negative_slope=0.3)(x)
    x = layers.Reshape((7, 7, 256))(x)
    x = layers.Conv2DTranspose(128, 5, strides=1, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(negative_slope=0.3)(x)
    x = layers.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(negative_slope=0.3)(x)
    x = layers.Conv2DTranspose(1, 5, strides=2, padding="same", use_bias=False)(x)
    image = layers.Activation("tanh", dtype="float32")(x)
    return keras.Model(z, image, name="my_generator")


def build_discriminator():
    image = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(64, 5, strides=2, padding="same")(image)
    x = layers.LeakyReLU(negative_slope=0.3)(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Conv2D(128, 5, strides=2, padding="same")(x)
    x = layers.LeakyReLU(negative_slope=0.3)(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Flatten()(x)
    logit = layers.Dense(1, dtype="float32")(x)
    return keras.Model(image, logit, name="my_discriminator")


class MyGAN(keras.Model):
    def __init__(self, generator, discriminator, seed=0):
        super().__init__()
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.clusters = 0
        self.cluster_frequencies = None
        self.noise_seed = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    @property
    def sampler(self):
        return self.generator

    def call(self, z, training=False):
        return self.sampler(z, training=training)

    def generate(self, count, seed=0):
        z = latents.fixed_latents(
            count,
            self.latent_dim,
            seed,
            self.clusters,
            frequencies=self.cluster_frequencies,
        )
        return self.sampler.predict(z, batch_size=500, verbose=0)

    def split_batch(self, batch):
        return batch, None

    def sample_latent(self, batch_size):
        return latents.sample_tensor(
            batch_size, self.latent_dim, 0, None, self.noise_seed
        )

    def cluster_ids_of(self, z):
        return None

    def discriminate(self, images, ids):
        inputs = images if ids is None else [images, ids]
        return self.discriminator(inputs, training=True)

    def after_generator_step(self):
        pass

    def train_step(self, batch):
        real_images, real_ids = self.split_batch(batch)
        z = self.sample_latent(tf.shape(real_images)[0])
        fake_ids = self.cluster_ids_of(z)
        with tf.GradientTape() as g_tape:
            fake_images = self.generator(z, training=True)
            with g_tape.stop_recording():
                with tf.GradientTape() as d_tape:
                    real_logits = self.discriminate(real_images, real_ids)
                    fake_logits = self.discriminate(
                        tf.stop_gradient(fake_images), fake_ids
                    )
                    d_loss = losses.discriminator_loss(real_logits, fake_logits)
                d_variables = self.discriminator.trainable_variables
                d_gradients = d_tape.gradient(d_loss, d_variables)
                self.d_optimizer.apply_gradients(
                    zip(d_gradients, d_variables, strict=True)
                )
            g_loss = losses.generator_loss(self.discriminate(fake_images, fake_ids))
        g_variables = self.generator.trainable_variables
        g_gradients = g_tape.gradient(g_loss, g_variables)
        self.g_optimizer.apply_gradients(zip(g_gradients, g_variables, strict=True))
        self.after_generator_step()
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {metric.name: metric.result() for metric in self.metrics}


def ema_step(average, weight, ema_decay, steps):
    decay = keras.ops.minimum(ema_decay, (1.0 + steps) / (10.0 + steps))
    return decay * average + (1.0 - decay) * weight


class EmaGAN(MyGAN):
    def __init__(self, generator, discriminator, seed=0, ema_decay=0.995):
        super().__init__(generator, discriminator, seed)
        self.ema_decay = ema_decay
        self.ema_generator = keras.models.clone_model(generator)
        self.ema_generator.set_weights(generator.get_weights())

    @property
    def sampler(self):
        return self.ema_generator

    def after_generator_step(self):
        steps = keras.ops.cast(self.g_optimizer.iterations, "float32")
        for average, weight in zip(
            self.ema_generator.weights, self.generator.weights, strict=True
        ):
            average.assign(ema_step(average, weight, self.ema_decay, steps))


class AugmentedGAN(EmaGAN):
    def __init__(
        self,
        generator,
        discriminator,
        seed=0,
        ema_decay=0.995,
        augment_policy="translation",
    ):
        super().__init__(generator, discriminator, seed, ema_decay)
        self.augment_policy = augment_policy
        self.augment_seed = keras.random.SeedGenerator(seed + 1)

    def discriminate(self, images, ids):
        images = augment.diff_augment(images, self.augment_policy, self.augment_seed)
        return super().discriminate(images, ids)


def add_projection(discriminator, clusters):
    image = discriminator.inputs[0]
    features = discriminator.layers[-2].output
    cluster_id = keras.Input(shape=(), dtype="int32")
    embedding = layers.Embedding(clusters, features.shape[-1])(cluster_id)
    projection = layers.Dot(axes=1, dtype="float32")([features, embedding])
    logit = layers.Add(dtype="float32")([discriminator.outputs[0], projection])
    return keras.Model([image, cluster_id], logit, name="my_projection_discriminator")


class ClusterGAN(AugmentedGAN):
    def __init__(
        self,
        generator,
        discriminator,
        seed=0,
        ema_decay=0.995,
        augment_policy="translation",
        clusters=20,
        cluster_frequencies=None,
    ):
        super().__init__(generator, discriminator, seed, ema_decay, augment_policy)
        self.clusters = clusters
        self.cluster_frequencies = latents.check_cluster_frequencies(
            cluster_frequencies, clusters
        )

    def split_batch(self, batch):
        images, ids = batch
        return images, tf.cast(ids, "int32")

    def sample_latent(self, batch_size):
        return latents.sample_tensor(
            batch_size,
            self.latent_dim,
            self.clusters,
            self.cluster_frequencies,
            self.noise_seed,
        )

    def cluster_ids_of(self, z):
        return latents.cluster_ids_of(z, self.clusters)


# ----------------------------------------------------------------- wrong answers


def _generator_without(change):
    """The reference generator with one typical mistake."""

    def build(latent_dim):
        z = keras.Input(shape=(latent_dim,))
        use_bias = change == "bias"
        x = layers.Dense(7 * 7 * 256, use_bias=use_bias)(z)
        x = layers.BatchNormalization()(x)
        x = layers.LeakyReLU(negative_slope=0.2 if change == "slope" else 0.3)(x)
        x = layers.Reshape((7, 7, 256))(x)
        x = layers.Conv2DTranspose(128, 5, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.LeakyReLU(negative_slope=0.3)(x)
        x = layers.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.LeakyReLU(negative_slope=0.3)(x)
        x = layers.Conv2DTranspose(1, 5, strides=2, padding="same", use_bias=False)(x)
        if change == "channel":
            x = layers.Reshape((28, 28))(x)
        activation = "linear" if change == "tanh" else "tanh"
        return keras.Model(z, layers.Activation(activation)(x))

    return build


def _discriminator_without(change):
    def build():
        image = keras.Input(shape=(28, 28, 1))
        x = layers.Conv2D(64, 5, strides=2, padding="same")(image)
        x = layers.LeakyReLU(negative_slope=0.3)(x)
        if change != "dropout":
            x = layers.Dropout(0.3)(x)
        x = layers.Conv2D(128, 5, strides=2, padding="same")(x)
        if change == "batchnorm":
            x = layers.BatchNormalization()(x)
        x = layers.LeakyReLU(negative_slope=0.3)(x)
        x = layers.Dropout(0.3)(x)
        if change != "flatten":
            x = layers.Flatten()(x)
        activation = "sigmoid" if change == "sigmoid" else None
        return keras.Model(image, layers.Dense(1, activation=activation)(x))

    return build


def _projection_only(discriminator, clusters):
    image, features = discriminator.inputs[0], discriminator.layers[-2].output
    cluster_id = keras.Input(shape=(), dtype="int32")
    embedding = layers.Embedding(clusters, features.shape[-1])(cluster_id)
    logit = layers.Dot(axes=1)([features, embedding])
    return keras.Model([image, cluster_id], logit)


def _projection_narrow(discriminator, clusters):
    image = discriminator.inputs[0]
    cluster_id = keras.Input(shape=(), dtype="int32")
    embedding = layers.Embedding(clusters, 1)(cluster_id)
    return keras.Model(
        [image, cluster_id], layers.Add()([discriminator.outputs[0], embedding])
    )


def _projection_one_input(discriminator, clusters):
    return discriminator


class MinimaxGAN(MyGAN):
    def train_step(self, batch):
        z = self.sample_latent(tf.shape(batch)[0])
        with tf.GradientTape() as g_tape:
            fakes = self.generator(z, training=True)
            with g_tape.stop_recording():
                with tf.GradientTape() as d_tape:
                    d_loss = losses.discriminator_loss(
                        self.discriminate(batch, None),
                        self.discriminate(tf.stop_gradient(fakes), None),
                    )
                d_vars = self.discriminator.trainable_variables
                grads = d_tape.gradient(d_loss, d_vars)
                self.d_optimizer.apply_gradients(zip(grads, d_vars, strict=True))
            g_loss = losses.generator_loss(
                self.discriminate(fakes, None), kind="minimax"
            )
        g_vars = self.generator.trainable_variables
        self.g_optimizer.apply_gradients(
            zip(g_tape.gradient(g_loss, g_vars), g_vars, strict=True)
        )
        return {"d_loss": d_loss, "g_loss": g_loss}


class TwoPassGAN(MyGAN):
    """Notebook 04's toy structure without sharing the fakes: G runs twice."""

    def train_step(self, batch, d_updates_g=False, g_first=False, g_updates_d=False):
        z = self.sample_latent(tf.shape(batch)[0])

        def d_step():
            with tf.GradientTape() as tape:
                fakes = self.generator(z, training=True)
                if not d_updates_g:
                    fakes = tf.stop_gradient(fakes)
                loss = losses.discriminator_loss(
                    self.discriminate(batch, None), self.discriminate(fakes, None)
                )
            variables = self.discriminator.trainable_variables
            if d_updates_g:
                variables = variables + self.generator.trainable_variables
            grads = tape.gradient(loss, variables)
            self.d_optimizer.apply_gradients(zip(grads, variables, strict=True))
            return loss

        def g_step():
            with tf.GradientTape() as tape:
                fakes = self.generator(z, training=True)
                loss = losses.generator_loss(self.discriminate(fakes, None))
            variables = self.generator.trainable_variables
            if g_updates_d:
                variables = variables + self.discriminator.trainable_variables
            grads = tape.gradient(loss, variables)
            self.g_optimizer.apply_gradients(zip(grads, variables, strict=True))
            return loss

        if g_first:
            g_loss = g_step()
            d_loss = d_step()
        else:
            d_loss = d_step()
            g_loss = g_step()
        return {"d_loss": d_loss, "g_loss": g_loss}


def _variant(**flags):
    class Variant(TwoPassGAN):
        def train_step(self, batch):
            return super().train_step(batch, **flags)

    return Variant


class NoWarmUpGAN(ClusterGAN):
    def after_generator_step(self):
        for average, weight in zip(
            self.ema_generator.weights, self.generator.weights, strict=True
        ):
            average.assign(self.ema_decay * average + (1 - self.ema_decay) * weight)


class NoAugmentGAN(ClusterGAN):
    def discriminate(self, images, ids):
        return MyGAN.discriminate(self, images, ids)


class UniformClustersGAN(ClusterGAN):
    def sample_latent(self, batch_size):
        return latents.sample_tensor(
            batch_size,
            self.latent_dim,
            self.clusters,
            [1 / self.clusters] * self.clusters,
            self.noise_seed,
        )


class SameSeedAugmentGAN(ClusterGAN):
    def __init__(self, *args, seed=0, **kwargs):
        super().__init__(*args, seed=seed, **kwargs)
        self.augment_seed = keras.random.SeedGenerator(seed)


class NoEmaGAN(AugmentedGAN):
    pass


def _stub(*args, **kwargs):
    raise NotImplementedError


CASES = {
    "generator": (
        checks.check_dcgan_generator,
        build_generator,
        [
            (_generator_without("channel"), "add the channel axis"),
            (_generator_without("tanh"), "end with tanh"),
            (_generator_without("bias"), "use_bias=True"),
            (_generator_without("slope"), "negative_slope=0.2"),
            (_stub, "not implemented"),
        ],
    ),
    "discriminator": (
        checks.check_dcgan_discriminator,
        build_discriminator,
        [
            (_discriminator_without("sigmoid"), "no sigmoid"),
            (_discriminator_without("flatten"), "Flatten before Dense"),
            (_discriminator_without("dropout"), "layer 3 is a Conv2D"),
            (_discriminator_without("batchnorm"), "BatchNormalization"),
        ],
    ),
    "projection": (
        checks.check_projection_discriminator,
        add_projection,
        [
            (_projection_only, "add D's own logit"),
            (_projection_narrow, "features' width"),
            (_projection_one_input, "two inputs"),
        ],
    ),
    "ema": (
        checks.check_ema_update,
        ema_step,
        [
            (lambda a, w, d, n: d * a + (1 - d) * w, "no warm-up"),
            (lambda a, w, d, n: ema_step(w, a, d, n), "swapped"),
            (lambda a, w, d, n: ema_step(a, w, 1 - d, n), "not 0.005"),
        ],
    ),
    "train_step": (
        checks.check_gan_train_step,
        MyGAN,
        [
            (MinimaxGAN, "minimax generator loss"),
            (TwoPassGAN, "batch-norm statistics moved twice"),
            (_variant(d_updates_g=True), "the fakes were not detached"),
            (_variant(g_updates_d=True), "G's step changed D's weights"),
            (_variant(g_first=True), "G updated before D"),
        ],
    ),
    "upgraded": (
        checks.check_upgraded_gan,
        ClusterGAN,
        [
            (NoWarmUpGAN, "EMA generator differs"),
            (NoAugmentGAN, "DiffAugment is missing"),
            (UniformClustersGAN, "drawn uniformly"),
            (SameSeedAugmentGAN, "differs"),
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_passes_the_reference(case, capsys):
    check, reference, _ = CASES[case]
    assert check(reference) is True
    assert capsys.readouterr().out.startswith("PASS")


@pytest.mark.parametrize(
    ("case", "index"),
    [(case, index) for case in sorted(CASES) for index in range(len(CASES[case][2]))],
)
def test_check_fails_a_typical_mistake_and_names_it(case, index, capsys):
    check, _, wrong = CASES[case]
    answer, words = wrong[index]
    assert check(answer) is False
    output = capsys.readouterr().out
    assert output.startswith("FAIL"), output
    assert words in output, output


def test_the_upgraded_check_wants_an_ema_generator(capsys):
    def no_ema(generator, discriminator, seed=0, **options):
        options.pop("ema_decay")
        options.pop("clusters"), options.pop("cluster_frequencies")
        return NoEmaGAN(generator, discriminator, seed=seed, ema_decay=0.995)

    assert checks.check_upgraded_gan(no_ema) is False
    assert "FAIL" in capsys.readouterr().out


def test_every_build_check_is_tested():
    tested = {case[0].__name__ for case in CASES.values()}
    assert set(gan_build.__all__) == tested
