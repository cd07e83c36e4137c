"""Colab T4 run-time estimates of each notebook's full profile, from counted FLOPs.

No notebook has been timed on a Colab GPU yet. Until one is, each notebook's
``full-gpu`` run time is this estimate, labelled "T4 estimate, not measured"; a
measured ``full-gpu`` entry in ``data/run_times.json`` (the runner records one
when it runs a notebook on a GPU) replaces it. The formula, per notebook::

    W      FLOPs of its fixed-size work (steps x batch x FLOPs per image of a
           step, samples x FLOPs per sample); W_t4 the same on a T4 (7.)
    R_cpu  the course's training rate on the development CPU (bench record:
           build_gan() + fit, batch 256); f = R_cpu / that record's fp32 matmul rate
    R_t4   f x 8.1 TFLOP/s, the T4's published fp32 peak (NVIDIA T4 datasheet)
    O      max(0, T_cpu - W / R_cpu), T_cpu the measured full CPU wall time
    T_t4   O x W_t4 / W + W_t4 / R_t4     (O alone where W = 0)

Assumptions (docs/colab_estimates.md discusses each):

1. FLOPs: 2 x multiply-adds of the Dense, Conv2D and Conv2DTranspose layers of
   the built models (``bench.flops.count_flops``); in the token transformer
   (``bench.flops.transformer_flops``) its Dense layers at every position and
   the attention, 2 x 2 x L^2 x width per block. Element-wise work is not counted.
2. A training step: forward F, backward 2F (F through a network not updated),
   as in ``bench.flops.STEP_PASSES``: the DCGAN 3F_G + 8F_D, notebook 04's toy
   GAN 4F_G + 8F_D (fresh noise for G), a VAE 3(F_enc + F_dec).
3. Sampling: the cached autoregressive prior one 49-token pass per image,
   MaskGIT K passes, latent diffusion T denoiser passes, then one decode;
   ``evaluation.sample_report`` runs the classifier 6 times per sample.
4. Timed benchmark windows (notebook 08's frontier timings, all of 09) last the
   same wall time on any device: they are part of O.
5. O (Python, tracing, data pipelines, plotting, timed windows, small-layer
   overhead) is the same on Colab's 2 CPU cores: conservative, as a GPU speeds up part.
6. The T4 sustains the fraction f of its fp32 peak that the course's training
   reaches of the CPU's matmul rate. ``hardware.recommend_precision`` picks
   mixed_float16 for a T4 (compute capability 7.5), whose tensor cores peak at
   65 TFLOP/s; R_t4 is 11% of that, a conservative figure for small layers.
7. Where a T4 run does more work, O grows by W_t4 / W: notebook 06 trains its
   precision comparison twice on a T4 (mixed_float16 and float32), once on a CPU
   that recommends float32.
8. Not counted, each lengthening a real Colab run: XLA compilation (on for a GPU),
   the MNIST download, k-means over Colab's 60,000 digits (4,000 offline).

Usage::

    python -m course_lib.colab_estimate            # print the table
    python -m course_lib.colab_estimate --write    # store the estimates, then sync
    python -m course_lib.colab_estimate --check    # exit 1 if the stored ones differ
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
from pathlib import Path

from course_lib import (
    config,
    hardware,
    latent_diffusion,
    models,
    recipes,
    runtimes,
    store,
    tokens,
    toy2d,
    vq,
)
from course_lib.bench import flops

KIND = "full-gpu"
LABEL = "T4 estimate, not measured"
SOURCE = "python -m course_lib.colab_estimate --write"
# NVIDIA T4 datasheet: peak FLOP/s by Keras precision policy.
T4_PEAK_FLOPS = {"float32": 8.1e12, "mixed_float16": 65e12}
T4_COMPUTE_CAPABILITY = (7, 5)
BENCH_RECORD = "cpu-amd-epyc-2-cores-no-gpu_full.json"
# The full-profile sizes of the notebooks' own hyperparameter cells;
# tests/test_colab_estimate.py reads each one back from its notebook.
NOTEBOOK_SIZES = {
    "04": {"TRAIN_STEPS": 4000, "BATCH_SIZE": 256, "COMPARE_SEEDS": 3},
    "05": {"BUILD_STEPS": 500},
    "06": {"COMPARE_EPOCHS": 4, "DEMO_IMAGES": 512},
    "07": {"YOUR_EPOCHS": 20, "IWAE_SAMPLES": 100},
    "08": {
        "TEMPERATURES": (1.0, 0.8, 0.7),
        "MASKGIT_STEPS": (4, 8, 16),
        "DIFFUSION_STEPS": (10, 50, 1000),
    },
}
TOY_EVAL_POINTS = 2500  # notebook 04's EVAL_SAMPLES, in both profiles
OFFLINE_TRAIN = 4000  # the offline training digits (assumption 8)
REPORT_CLASSIFIER_PASSES = 6  # classifier passes per sample in sample_report
_TIMES = ("cpu_seconds", "cpu_compute_seconds", "other_seconds", "t4_compute_seconds")


@dataclasses.dataclass(frozen=True)
class Work:
    """One piece of a notebook's fixed-size work: ``units`` on the CPU run (and
    ``t4_units`` on a T4, where that differs) of ``flops_per_unit`` each."""

    label: str
    flops_per_unit: float
    units: int
    t4_units: int | None = None

    @property
    def flops(self) -> float:
        """The FLOPs of the CPU run."""
        return self.flops_per_unit * self.units

    @property
    def t4_flops(self) -> float:
        """The FLOPs of a T4 run."""
        return self.flops_per_unit * (self.t4_units or self.units)


@functools.lru_cache(maxsize=1)
def network_flops() -> dict:
    """Count the forward FLOPs per image of every network the notebooks run.

    Returns:
        ``{name: FLOPs}``, from freshly built models of the recipes' sizes;
        ``prior`` is one 49-token pass of the token transformer.
    """
    gan, vae, token = recipes.GAN, recipes.VAE, recipes.TOKENS
    built = {
        "dcgan_generator": models.dcgan_generator(gan.latent_dim),
        "dcgan_discriminator": models.dcgan_discriminator(),
        "projection_discriminator": models.dcgan_discriminator(clusters=gan.clusters),
        "classifier": models.mnist_classifier(),
        "vae_encoder": models.vae_encoder(vae.latent_dim),
        "vae_decoder": models.vae_decoder(vae.latent_dim),
        "vae_2d_encoder": models.vae_encoder(recipes.VAE_2D.latent_dim),
        "vae_2d_decoder": models.vae_decoder(recipes.VAE_2D.latent_dim),
        "toy_generator": toy2d.build_generator(),
        "toy_discriminator": toy2d.build_discriminator(),
        "vq_encoder": vq.vq_encoder(token.code_dim),
        "vq_decoder": vq.vq_decoder(token.code_dim),
        "denoiser": latent_diffusion.build_denoiser(
            vae.latent_dim, token.diffusion_width, token.diffusion_depth
        ),
    }
    counted = {name: flops.count_flops(model)["total"] for name, model in built.items()}
    counted["prior"] = flops.transformer_flops(tokens.build_prior(token, causal=True))
    return counted


def notebook_work(number: str, t4_policies: int = 2) -> list[Work]:
    """Return the fixed-size work of one notebook's full profile.

    Args:
        number: ``"00"`` to ``"09"``; empty lists for 00-03 (Monte Carlo on
            small arrays) and 09 (timed windows only).
        t4_policies: The precisions notebook 06 compares on a T4.

    Returns:
        A list of :class:`Work`.
    """
    net, full, sizes = network_flops(), config.PROFILES["full"], NOTEBOOK_SIZES
    n, report = full.eval_samples, REPORT_CLASSIFIER_PASSES * net["classifier"]
    g_batch = recipes.batch_size(recipes.GAN, full)
    g_epoch = recipes.steps_per_epoch(recipes.GAN, full)
    passes_g, passes_d = flops.STEP_PASSES["one_pass"]
    gan_step, projection = (
        passes_g * net["dcgan_generator"] + passes_d * net[name]
        for name in ("dcgan_discriminator", "projection_discriminator")
    )
    gan_image = net["dcgan_generator"] + report
    if number == "04":
        toy = sizes["04"]
        runs = 1 + len(toy2d.OBJECTIVES) * toy["COMPARE_SEEDS"]
        passes_g, passes_d = flops.STEP_PASSES["two_pass"]  # fresh noise for G
        step = passes_g * net["toy_generator"] + passes_d * net["toy_discriminator"]
        points = runs * toy["TRAIN_STEPS"] * toy["BATCH_SIZE"]
        return [
            Work(f"{runs} toy GAN trainings", step, points),
            Work("their samples", net["toy_generator"], runs * TOY_EVAL_POINTS),
        ]
    if number == "05":
        versions, steps = 4, sizes["05"]["BUILD_STEPS"]
        return [
            Work(f"{versions} DCGANs", gan_step, versions * steps * g_batch),
            Work(f"{versions + 1} sample reports", gan_image, (versions + 1) * n),
        ]
    if number == "06":
        epochs, demo = sizes["06"]["COMPARE_EPOCHS"], sizes["06"]["DEMO_IMAGES"]
        per_policy = epochs * g_epoch * g_batch
        return [  # the demo: 3 epochs straight, 2 interrupted, 1 resumed
            Work("checkpoint demo, 6 epochs", gan_step, 6 * demo),
            Work("precision runs", projection, per_policy, t4_policies * per_policy),
            Work("sample reports", gan_image, 2 * n, (1 + t4_policies) * n),
        ]
    if number == "07":
        k, epochs = sizes["07"]["IWAE_SAMPLES"], sizes["07"]["YOUR_EPOCHS"]
        v_batch = recipes.batch_size(recipes.VAE, full)
        v_epoch = recipes.steps_per_epoch(recipes.VAE, full)
        vae_step = 3 * (net["vae_encoder"] + net["vae_decoder"])
        iwae = net["vae_encoder"] + k * net["vae_decoder"]
        iwae_2d = net["vae_2d_encoder"] + k * net["vae_2d_decoder"]
        sweep = 20 * (1 + 10 + 100 + 1000)  # K = 1 to 1,000 on 20 digits
        return [
            Work(f"your VAE, {epochs} epochs", vae_step, epochs * v_epoch * v_batch),
            Work("IWAE bounds of two 16-D VAEs", iwae, 2 * n),
            Work("IWAE bound of the 2-D VAE", iwae_2d, n),
            Work("the bound's sweep over K", net["vae_decoder"], sweep),
            Work("a sample report", net["vae_decoder"] + report, n),
        ]
    if number != "08":
        return []
    tok = sizes["08"]
    token_image, vae_image = net["vq_decoder"] + report, net["vae_decoder"] + report
    sets = len(tok["TEMPERATURES"]) + 2  # and top-k 32, and the frontier's
    work = [
        Work("VQ encoder, training and test", net["vq_encoder"], OFFLINE_TRAIN + 2 * n),
        Work("VQ decoder, reconstructions", net["vq_decoder"], n),
        Work("VAE encoder, training digits", net["vae_encoder"], OFFLINE_TRAIN),
        Work(f"autoregressive, {sets} sets", net["prior"] + token_image, sets * n),
        Work("the uncached sampler's check", 49 * net["prior"], 16),
        Work("VAE prior, 2 sets", vae_image, 2 * n),
        Work("GAN (frontier)", gan_image, n),
    ]
    for k in tok["MASKGIT_STEPS"]:  # 2 sets: the section's and the frontier's
        work.append(Work(f"MaskGIT K={k}", k * net["prior"] + token_image, 2 * n))
    for t in tok["DIFFUSION_STEPS"]:
        work.append(Work(f"diffusion T={t}", t * net["denoiser"] + vae_image, 2 * n))
    return work


def bench_rates(bench: dict) -> tuple[float, float]:
    """Return R_cpu, the ``build_gan`` training rate of a bench record, and f.

    Args:
        bench: A stored full bench record (``data/benchmarks/*.json``).

    Returns:
        ``(R_cpu in FLOP/s, f = R_cpu / the record's float32 matmul rate)``.
    """
    training = [r for r in bench.get("training", []) if r.get("loop") == "build_gan"]
    peak = [r for r in bench.get("peaks", []) if r.get("dtype") == "float32"]
    if not training or not peak:
        raise ValueError(
            "The bench record has no build_gan training result or float32 peak. "
            "Fix: point at a full record written by `python -m course_lib.bench`."
        )
    rate = training[0]["gflops"] * 1e9
    return rate, rate / (peak[0]["gflops"] * 1e9)


def t4_rate(fraction: float) -> float:
    """Return the assumed sustained T4 rate: ``fraction`` of its fp32 peak."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}.")
    return fraction * T4_PEAK_FLOPS["float32"]


def estimate(cpu_seconds: float, work: list, cpu_rate: float, gpu_rate: float) -> dict:
    """Apply the module's formula to one notebook.

    Args:
        cpu_seconds: T_cpu; work: its :class:`Work`; cpu_rate, gpu_rate: R_cpu
            and R_t4 in FLOP/s.

    Returns:
        ``flops`` (W), ``t4_flops`` (W_t4), ``cpu_compute_seconds`` (W / R_cpu),
        ``other_seconds`` (O x W_t4 / W), ``t4_compute_seconds``, ``seconds``.
    """
    if cpu_seconds < 0 or cpu_rate <= 0 or gpu_rate <= 0:
        raise ValueError(
            "cpu_seconds must be >= 0 and both rates > 0; got "
            f"{cpu_seconds}, {cpu_rate}, {gpu_rate}."
        )
    cpu_flops = sum(item.flops for item in work)
    gpu_flops = sum(item.t4_flops for item in work)
    cpu_compute = cpu_flops / cpu_rate
    other = max(0.0, cpu_seconds - cpu_compute)
    other *= gpu_flops / cpu_flops if cpu_flops else 1.0
    gpu_compute = gpu_flops / gpu_rate
    return {
        "flops": cpu_flops,
        "t4_flops": gpu_flops,
        "cpu_compute_seconds": cpu_compute,
        "other_seconds": other,
        "t4_compute_seconds": gpu_compute,
        "seconds": other + gpu_compute,
    }


def load_bench(path: Path | None = None) -> dict:
    """Read the CPU bench record the estimates use (``BENCH_RECORD``)."""
    path = Path(path or config.repo_root() / "data" / "benchmarks" / BENCH_RECORD)
    return json.loads(path.read_text(encoding="utf-8"))


def notebook_estimates(record: dict, bench: dict) -> dict:
    """Apply :func:`estimate` to every notebook with a measured full CPU time.

    Args:
        record: The run-time record (``runtimes.load_record``).
        bench: The CPU bench record (:func:`load_bench`).

    Returns:
        ``{stem: estimate's dict plus "cpu_seconds"}``.
    """
    if hardware.recommend_precision("GPU", T4_COMPUTE_CAPABILITY) != "mixed_float16":
        raise ValueError("The T4's precision rule changed. Fix: revisit assumption 6.")
    cpu_rate, fraction = bench_rates(bench)
    result = {}
    for stem, entries in sorted(record["notebooks"].items()):
        full = entries.get("full")
        if full and full.get("ok", True):
            work = notebook_work(stem[:2])
            parts = estimate(full["seconds"], work, cpu_rate, t4_rate(fraction))
            result[stem] = {**parts, "cpu_seconds": full["seconds"]}
    return result


def record_estimates(record: dict, bench: dict) -> dict:
    """Return the record's ``estimates`` table: ``{stem: {"full-gpu": entry}}``,
    each entry with ``seconds``, ``label``, ``source``, ``flops`` (W_t4) and
    ``cpu_seconds``, which ``runtimes.render`` shows where nothing is measured."""
    return {
        stem: {
            KIND: {
                "seconds": round(parts["seconds"], 1),
                "label": LABEL,
                "source": SOURCE,
                "flops": float(f"{parts['t4_flops']:.4g}"),
                "cpu_seconds": parts["cpu_seconds"],
            }
        }
        for stem, parts in notebook_estimates(record, bench).items()
    }


def main(argv: list[str] | None = None) -> int:
    """Print, store (``--write``) or check (``--check``) the T4 estimates.

    Returns:
        0; 1 when ``--check`` finds stored estimates that differ.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="store, then sync")
    action.add_argument("--check", action="store_true", help="compare with the record")
    args = parser.parse_args(argv)
    record, bench = runtimes.load_record(), load_bench()
    if not (args.write or args.check):
        print("| notebook | W, W_t4 (TFLOP) | T_cpu, W/R_cpu, O, W_t4/R_t4, T_t4 (s) |")
        for stem, part in notebook_estimates(record, bench).items():
            flop = f"{part['flops'] / 1e12:.2f}, {part['t4_flops'] / 1e12:.2f}"
            times = ", ".join(f"{part[key]:.1f}" for key in (*_TIMES, "seconds"))
            print(f"| {stem} | {flop} | {times} |")
        return 0
    computed = record_estimates(record, bench)
    if args.check:
        same = record.get("estimates") == computed
        print("the stored estimates are current" if same else "stale: run --write")
        return 0 if same else 1
    record["estimates"] = computed
    store.write_json(runtimes.record_path(), record, sort_keys=True)
    for path in runtimes.sync(record=record):
        print(f"synced {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
