"""A VQ-VAE tokenizer: every digit becomes 7 x 7 = 49 tokens from a learned codebook.

The encoder maps a 28 x 28 digit to a 7 x 7 grid of vectors ``z_e``; each vector is
replaced by its nearest codebook entry ``e_k`` (the token is ``k``), and the
decoder draws the digit back from the grid of chosen entries (van den Oord et al.,
2017). The pieces, each checked in the notebook and the tests:

- :func:`nearest_codes`: ``argmin_k |z - e_k|^2``, computed as
  ``|z|^2 - 2 z.e_k + |e_k|^2`` with one matrix product;
- :func:`straight_through`: ``z_e + stop_gradient(z_q - z_e)``, whose value is
  ``z_q`` and whose gradient with respect to ``z_e`` is the identity;
- :func:`vq_losses`: the codebook loss ``|sg(z_e) - e|^2`` (moves the codes) and
  the commitment loss ``|z_e - sg(e)|^2`` (keeps the encoder near its codes);
- :func:`code_usage`: counts, perplexity ``exp(H)`` and dead codes, and
  :class:`ReseedDeadCodes`, which moves unused codes onto encoder outputs.

Introduced in notebooks/08_images_as_tokens.ipynb.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from course_lib import pixels

GRID = 7
TOKENS = GRID * GRID

# ------------------------------------------------------------------ the maths


def nearest_codes(vectors, codebook):
    """Return the index of the nearest code (squared Euclidean) for each vector.

    Args:
        vectors: Array or tensor (..., D).
        codebook: (K, D) code vectors.

    Returns:
        int32 indices of shape ``vectors.shape[:-1]``, values in ``[0, K)``.

    Raises:
        ValueError: When the last sizes differ or the codebook is not 2-D.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    vectors = ops.convert_to_tensor(vectors)
    codebook = ops.cast(ops.convert_to_tensor(codebook), vectors.dtype)
    if len(codebook.shape) != 2 or vectors.shape[-1] != codebook.shape[-1]:
        raise ValueError(
            f"vectors (..., {vectors.shape[-1]}) do not fit a codebook of shape "
            f"{tuple(codebook.shape)}. Fix: pass a (K, D) codebook and encoder "
            "outputs whose last size is its D."
        )
    flat = ops.reshape(vectors, (-1, codebook.shape[-1]))
    distances = (
        ops.sum(flat**2, axis=1, keepdims=True)
        - 2.0 * ops.matmul(flat, ops.transpose(codebook))
        + ops.sum(codebook**2, axis=1)[None, :]
    )
    codes = ops.cast(ops.argmin(distances, axis=1), "int32")
    return ops.reshape(codes, ops.shape(vectors)[:-1])


def straight_through(z_e, z_q):
    """Return ``z_e + stop_gradient(z_q - z_e)``: the value of ``z_q``, the gradient
    of the identity with respect to ``z_e`` (and none with respect to ``z_q``).

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    return z_e + ops.stop_gradient(z_q - z_e)


def vq_losses(z_e, z_q):
    """Return ``(codebook_loss, commitment_loss)``, both means over all elements.

    ``codebook_loss = mean((sg(z_e) - z_q)^2)`` trains only the codes;
    ``commitment_loss = mean((z_e - sg(z_q))^2)`` trains only the encoder. Their
    values are equal; their gradients go to different places.

    Args:
        z_e: Encoder outputs (..., D).
        z_q: The chosen code vectors, same shape.

    Returns:
        Two scalar tensors.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    codebook_loss = ops.mean((ops.stop_gradient(z_e) - z_q) ** 2)
    commitment_loss = ops.mean((z_e - ops.stop_gradient(z_q)) ** 2)
    return codebook_loss, commitment_loss


def code_usage(codes, num_codes: int) -> dict:
    """Count how often each code is used; report perplexity and dead codes.

    Perplexity is ``exp(-sum_k p_k log p_k)`` of the usage frequencies: the
    number of equally used codes that would give the same entropy (``num_codes``
    at best, 1 when one code does everything).

    Args:
        codes: Integer tokens of any shape, values in ``[0, num_codes)``.
        num_codes: Codebook size K.

    Returns:
        A dict with ``counts`` (int64, (K,)), ``perplexity``, ``dead_codes``
        (how many are never used) and ``used_fraction``.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    codes = np.asarray(codes).ravel()
    check_tokens(codes, num_codes, "codes")
    counts = np.bincount(codes, minlength=num_codes).astype(np.int64)
    frequencies = counts[counts > 0] / counts.sum()
    perplexity = float(np.exp(-np.sum(frequencies * np.log(frequencies))))
    dead = int(np.sum(counts == 0))
    return {
        "counts": counts,
        "perplexity": perplexity,
        "dead_codes": dead,
        "used_fraction": 1.0 - dead / num_codes,
    }


def check_tokens(tokens, num_codes: int, name: str = "tokens") -> np.ndarray:
    """Refuse tokens that are not integers in ``[0, num_codes)``; return them.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    tokens = np.asarray(tokens)
    if not np.issubdtype(tokens.dtype, np.integer):
        raise ValueError(
            f"{name} must be integers, got dtype {tokens.dtype}. Fix: pass the "
            "int32 token ids from tokenize()."
        )
    if tokens.size and (tokens.min() < 0 or tokens.max() >= num_codes):
        raise ValueError(
            f"{name} must lie in [0, {num_codes}), got values from {tokens.min()} "
            f"to {tokens.max()}. Fix: use ids of this codebook ({num_codes} codes)."
        )
    return tokens


# ---------------------------------------------------------------- the networks


def vq_encoder(code_dim: int = 32, name: str = "vq_encoder") -> keras.Model:
    """Build the encoder: (28, 28, 1) in [0, 1] -> (7, 7, code_dim).

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    image = keras.Input((28, 28, 1), name="image")
    x = layers.Conv2D(32, 4, strides=2, padding="same", activation="relu")(image)
    x = layers.Conv2D(64, 4, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    z_e = layers.Conv2D(code_dim, 1, name="z_e")(x)
    return keras.Model(image, z_e, name=name)


def vq_decoder(code_dim: int = 32, name: str = "vq_decoder") -> keras.Model:
    """Build the decoder: (7, 7, code_dim) -> Bernoulli logits (28, 28, 1).

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    grid = keras.Input((GRID, GRID, code_dim), name="z_q")
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(grid)
    x = layers.Conv2DTranspose(64, 4, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2DTranspose(32, 4, strides=2, padding="same", activation="relu")(x)
    logits = layers.Conv2D(1, 3, padding="same", dtype="float32", name="logits")(x)
    return keras.Model(grid, logits, name=name)


@keras.saving.register_keras_serializable(package="course_lib")
class VQVAE(keras.Model):
    """Encoder, codebook and decoder, trained by ``fit`` on binarised digits.

    The loss per batch is the Bernoulli reconstruction (per pixel, so that it
    sits on the scale of the VQ terms) plus ``codebook_loss + beta *
    commitment_loss``. Metrics: ``reconstruction`` in nats per image, both VQ
    terms, and the batch's code ``perplexity``.

    Args:
        num_codes: Codebook size K.
        code_dim: Size D of each code vector.
        beta: Weight of the commitment loss (0.25 in the paper).

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """

    def __init__(self, num_codes=128, code_dim=32, beta=0.25, **kwargs):
        super().__init__(**kwargs)
        if int(num_codes) < 2 or int(code_dim) < 1:
            raise ValueError(
                f"num_codes must be >= 2 and code_dim >= 1, got {num_codes} and "
                f"{code_dim}. Fix: use, for example, 128 codes of size 32."
            )
        self.num_codes, self.code_dim, self.beta = int(num_codes), int(code_dim), beta
        self.encoder = vq_encoder(self.code_dim)
        self.decoder = vq_decoder(self.code_dim)
        limit = 1.0 / self.num_codes
        self.codebook = self.add_weight(
            shape=(self.num_codes, self.code_dim),
            initializer=keras.initializers.RandomUniform(-limit, limit, seed=0),
            name="codebook",
        )
        self.trackers = {
            name: keras.metrics.Mean(name=name)
            for name in ("loss", "reconstruction", "codebook", "commitment")
        }
        self.trackers["perplexity"] = keras.metrics.Mean(name="perplexity")
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers.values())

    def get_config(self):
        return {
            "name": self.name,
            "num_codes": self.num_codes,
            "code_dim": self.code_dim,
            "beta": self.beta,
        }

    def quantize_vectors(self, z_e):
        """Return ``(z_q, codes)`` for encoder outputs ``z_e`` (batch, 7, 7, D)."""
        codebook = ops.cast(self.codebook, z_e.dtype)
        codes = nearest_codes(z_e, codebook)
        return ops.take(codebook, codes, axis=0), codes

    def compute_terms(self, images, training=False):
        """Return the loss terms and the codes of one batch (a dict of tensors)."""
        images = ops.cast(images, "float32")
        z_e = ops.cast(self.encoder(images, training=training), "float32")
        z_q, codes = self.quantize_vectors(z_e)
        codebook_loss, commitment_loss = vq_losses(z_e, z_q)
        logits = ops.cast(
            self.decoder(straight_through(z_e, z_q), training=training), "float32"
        )
        per_pixel = ops.mean(ops.binary_crossentropy(images, logits, from_logits=True))
        loss = per_pixel + codebook_loss + self.beta * commitment_loss
        one_hot = ops.one_hot(ops.reshape(codes, (-1,)), self.num_codes)
        frequencies = ops.mean(one_hot, axis=0)
        entropy = -ops.sum(frequencies * ops.log(frequencies + 1e-10))
        return {
            "loss": loss,
            "reconstruction": per_pixel * 28 * 28,
            "codebook": codebook_loss,
            "commitment": commitment_loss,
            "perplexity": ops.exp(entropy),
        }

    def call(self, images, training=False):
        z_e = self.encoder(images, training=training)
        z_q, _ = self.quantize_vectors(ops.cast(z_e, "float32"))
        return self.decoder(z_q, training=training)

    def _update(self, terms):
        for name, tracker in self.trackers.items():
            tracker.update_state(terms[name])
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, batch):
        images = batch[0] if isinstance(batch, tuple | list) else batch
        pixels.check_batch(images, "VQVAE.fit", "0,1")
        with tf.GradientTape() as tape:
            terms = self.compute_terms(images, training=True)
        variables = self.trainable_variables
        gradients = tape.gradient(terms["loss"], variables)
        self.optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return self._update(terms)

    # ------------------------------------------------------ using the model

    def encode(self, images, batch_size: int = 500) -> np.ndarray:
        """Return the encoder outputs ``z_e`` of images in [0, 1], (n, 7, 7, D)."""
        images = pixels.to_unit_range(np.asarray(images, np.float32), "0,1")
        return self.encoder.predict(images, batch_size=batch_size, verbose=0)

    def tokenize(self, images, batch_size: int = 500) -> np.ndarray:
        """Return each image's 49 tokens, int32 (n, 7, 7).

        Args:
            images: float images in [0, 1], (n, 28, 28[, 1]) (binarised digits).
            batch_size: Images per encoder pass.
        """
        z_e = self.encode(images, batch_size)
        return np.asarray(nearest_codes(z_e, np.asarray(self.codebook)), np.int32)

    def decode_tokens(self, tokens, batch_size: int = 500) -> np.ndarray:
        """Return the decoder's Bernoulli means for tokens (n, 7, 7) or (n, 49).

        Returns:
            float32 (n, 28, 28, 1) in [0, 1].

        Raises:
            ValueError: For ids outside the codebook or a wrong shape.
        """
        tokens = check_tokens(tokens, self.num_codes)
        if tokens.ndim == 2 and tokens.shape[1] == TOKENS:
            tokens = tokens.reshape(-1, GRID, GRID)
        if tokens.ndim != 3 or tokens.shape[1:] != (GRID, GRID):
            raise ValueError(
                f"tokens must have shape (n, 7, 7) or (n, 49), got {tokens.shape}. "
                "Fix: pass one row of 49 tokens per image."
            )
        z_q = np.asarray(self.codebook, np.float32)[tokens]
        logits = self.decoder.predict(z_q, batch_size=batch_size, verbose=0)
        return (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(np.float32)

    def reconstruct(self, images) -> np.ndarray:
        """Return the decoded means of the images' own tokens, (n, 28, 28, 1)."""
        return self.decode_tokens(self.tokenize(images))


def reseed_dead_codes(codebook, counts, vectors, seed: int = 0) -> int:
    """Move every unused code onto a randomly chosen encoder output (plus tiny noise).

    Args:
        codebook: The (K, D) codebook variable; changed in place.
        counts: Usage counts (K,) from :func:`code_usage`.
        vectors: Encoder outputs (..., D) to draw the new codes from.
        seed: NumPy seed of the draw.

    Returns:
        How many codes were re-seeded.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    dead = np.flatnonzero(np.asarray(counts) == 0)
    if dead.size == 0:
        return 0
    table = np.array(codebook, dtype=np.float32)
    flat = np.asarray(vectors, np.float32).reshape(-1, table.shape[1])
    rng = np.random.default_rng(seed)
    chosen = flat[rng.choice(len(flat), size=dead.size, replace=dead.size > len(flat))]
    table[dead] = chosen + 1e-3 * rng.standard_normal(chosen.shape)
    codebook.assign(ops.cast(table, codebook.dtype))
    return int(dead.size)


class ReseedDeadCodes(keras.callbacks.Callback):
    """After each epoch but the last, measure code usage and re-seed dead codes.

    Args:
        images: Binarised digits whose tokens are counted (a few thousand).
        enabled: Re-seed (``True``) or only measure (``False``, the control).
        seed: Seed of the draws.

    Attributes:
        records: Per epoch: ``epoch``, ``perplexity``, ``dead_codes`` (before
            any re-seeding) and ``reseeded``.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """

    def __init__(self, images, enabled: bool = True, seed: int = 0):
        super().__init__()
        self.images, self.enabled, self.seed = images, enabled, seed
        self.records: list[dict] = []

    def on_epoch_end(self, epoch, logs=None):
        z_e = self.model.encode(self.images)
        codes = nearest_codes(z_e, np.asarray(self.model.codebook))
        usage = code_usage(np.asarray(codes), self.model.num_codes)
        reseeded = 0
        # Not after the last epoch: the decoder would never see the moved codes.
        last = (self.params or {}).get("epochs", epoch + 2)
        if self.enabled and epoch + 1 < last:
            reseeded = reseed_dead_codes(
                self.model.codebook, usage["counts"], z_e, self.seed + epoch
            )
        self.records.append(
            {
                "epoch": epoch + 1,
                "perplexity": round(usage["perplexity"], 2),
                "dead_codes": usage["dead_codes"],
                "reseeded": reseeded,
            }
        )


def build_vqvae(
    num_codes: int = 128, code_dim: int = 32, beta: float = 0.25, learning_rate=1e-3
) -> VQVAE:
    """Build and compile a :class:`VQVAE` (float32), ready for ``fit``.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    model = VQVAE(num_codes, code_dim, beta)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    model.optimizer.build(model.trainable_variables)
    return model
