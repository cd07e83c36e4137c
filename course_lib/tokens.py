"""Images as tokens: the VQ-VAE tokenizer and its two priors, as one generator.

::

    from course_lib import tokens
    generator = tokens.load_shipped()
    images = generator.generate(16, seed=0)                        # 49 AR steps
    images = generator.generate(16, seed=0, sampler="maskgit", steps=8)

:class:`TokenGenerator` bundles the tokenizer (``vq.VQVAE``), the causal prior
that writes the 49 tokens one after another (the "LLM") and the bidirectional
MaskGIT prior that fills them in ``K`` parallel steps; ``generate`` returns
float32 images (count, 28, 28, 1) in [-1, 1] like every course generator. The
recipe of the shipped one is ``recipes.TOKENS`` (one frozen dataclass, stated once);
:func:`save` and :func:`load` store all three networks in one float16 file.

Introduced in notebooks/08_images_as_tokens.ipynb.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from course_lib import config, recipes, store, token_sampling, transformer, vq

SAMPLERS = ("autoregressive", "maskgit")


RECIPE = recipes.TOKENS


def epochs(stage, profile: config.Profile, recipe=RECIPE) -> int:
    """Return the epoch count of a training stage: its steps / steps_per_epoch.

    Args:
        stage: ``"tokenizer"``, ``"prior"``, ``"maskgit"`` or ``"diffusion"``
            (``recipes.stages``); a per-profile dict of epochs, the old form, is
            read as it is.
        profile: The run's profile.
        recipe: A ``recipes.TokensRecipe``.

    Returns:
        The number of epochs (passes over the offline digits).
    """
    if isinstance(stage, dict):
        return int(stage[profile.name])
    return recipes.epochs(recipe, profile, stage)


@keras.saving.register_keras_serializable(package="course_lib")
class TokenGenerator(keras.Model):
    """A tokenizer plus a causal and a MaskGIT prior over its 49 tokens.

    Args:
        tokenizer: A ``vq.VQVAE``.
        autoregressive_prior: A causal ``transformer.build_transformer`` model
            with ``num_codes + 1`` input ids (the last is BOS).
        maskgit_prior: A bidirectional one (the last input id is MASK).
        defaults: Sampler defaults (``TokensRecipe.sampling_defaults()``).

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """

    def __init__(self, tokenizer, autoregressive_prior, maskgit_prior, defaults=None):
        super().__init__(name="token_generator")
        self.tokenizer = tokenizer
        self.autoregressive_prior = autoregressive_prior
        self.maskgit_prior = maskgit_prior
        self.defaults = dict(defaults or RECIPE.sampling_defaults())
        self.manifest: dict = {}
        self.built = True

    @property
    def num_codes(self) -> int:
        """The codebook size."""
        return self.tokenizer.num_codes

    def sample_tokens(
        self,
        count: int,
        seed: int = 0,
        sampler: str = "autoregressive",
        steps: int | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        use_cache: bool = True,
    ) -> np.ndarray:
        """Return sampled tokens, int32 (count, 49). Arguments as for ``generate``."""
        if sampler == "autoregressive":
            return token_sampling.autoregressive_sample(
                self.autoregressive_prior,
                count,
                seed,
                self.defaults["temperature"] if temperature is None else temperature,
                self.defaults["top_k"] if top_k is None else top_k,
                use_cache,
            )
        if sampler == "maskgit":
            return token_sampling.maskgit_sample(
                self.maskgit_prior,
                count,
                self.defaults["maskgit_steps"] if steps is None else steps,
                seed,
                self.defaults["maskgit_temperature"]
                if temperature is None
                else temperature,
                top_k,
                self.defaults["choice_temperature"],
            )
        raise ValueError(
            f"Unknown sampler {sampler!r}. Fix: use one of {', '.join(SAMPLERS)}."
        )

    def generate(
        self,
        count: int,
        seed: int = 0,
        sampler: str = "autoregressive",
        steps: int | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        use_cache: bool = True,
    ) -> np.ndarray:
        """Return ``count`` digits drawn as tokens and decoded.

        Args:
            count: How many images.
            seed: Seed of the draws (same seed, same images).
            sampler: ``"autoregressive"`` (49 steps) or ``"maskgit"`` (K steps).
            steps: MaskGIT's K (default: the recipe's); ignored otherwise.
            temperature: Softmax temperature (default: the recipe's).
            top_k: Keep the k most likely codes per step (None: the default).
            use_cache: The autoregressive sampler's KV cache.

        Returns:
            float32 (count, 28, 28, 1) in [-1, 1].

        Raises:
            ValueError: For an unknown sampler, a bad count, K < 1 or K > 49,
                or a bad temperature or top-k; the message names the fix.
        """
        tokens = self.sample_tokens(
            count, seed, sampler, steps, temperature, top_k, use_cache
        )
        return 2.0 * self.tokenizer.decode_tokens(tokens) - 1.0


def build_prior(recipe: recipes.TokensRecipe, causal: bool, seed: int = 0):
    """Build one of the recipe's two priors: the causal one or MaskGIT's.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    return transformer.build_transformer(
        recipe.num_codes + 1,
        recipe.num_codes,
        vq.TOKENS,
        recipe.width,
        recipe.depth,
        recipe.heads,
        causal=causal,
        dropout=recipe.dropout,
        seed=seed,
        name="autoregressive_prior" if causal else "maskgit_prior",
    )


def build_generator(
    recipe: recipes.TokensRecipe = RECIPE, seed: int = 0
) -> TokenGenerator:
    """Build an untrained :class:`TokenGenerator` of ``recipe``'s sizes (float32).

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    tokenizer = vq.VQVAE(recipe.num_codes, recipe.code_dim, recipe.beta)
    priors = [build_prior(recipe, causal, seed) for causal in (True, False)]
    return TokenGenerator(tokenizer, *priors, defaults=recipe.sampling_defaults())


def save(generator: TokenGenerator, path, recipe: recipes.TokensRecipe = RECIPE):
    """Write all three networks' weights to one float16 ``.weights.h5`` file.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    return store.save_float16(generator, lambda: build_generator(recipe), path)


def load(path, recipe: recipes.TokensRecipe = RECIPE) -> TokenGenerator:
    """Build ``recipe``'s generator and fill it from a :func:`save` file.

    Raises:
        ValueError: For a missing, unreadable or mismatched file (names the fix).

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    generator = build_generator(recipe)
    mismatch = f"The weights in {path} do not fit the tokens recipe"
    fix = f"retrain them with `{recipe.command}`, or restore the file with git."
    return store.load_float16(
        generator, lambda: build_generator(recipe), path, mismatch, fix
    )


def recipe_from_manifest(entry: dict) -> recipes.TokensRecipe:
    """Return the recipe recorded in a manifest entry (the shipped sizes win)."""
    fields = {field.name for field in dataclasses.fields(recipes.TokensRecipe)}
    recorded = {k: v for k, v in entry.get("recipe", {}).items() if k in fields}
    return dataclasses.replace(RECIPE, **recorded)


def load_shipped() -> TokenGenerator:
    """Return the shipped generator, its file checked against the manifest.

    Returns:
        A :class:`TokenGenerator` with ``manifest``, its manifest entry.

    Raises:
        ValueError: If the weights are missing, corrupt or changed.

    Introduced in notebooks/08_images_as_tokens.ipynb.
    """
    path = store.verified_path(RECIPE.key, RECIPE.command)
    entry = store.read_manifest()[RECIPE.key]
    generator = load(path, recipe_from_manifest(entry))
    generator.manifest = dict(entry)
    return generator
