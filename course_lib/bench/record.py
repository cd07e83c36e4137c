"""The benchmark suite's record: the targets, the JSON layout and the table.

:func:`run_suite` times every workload (sampling with the matmul peaks, training,
the generator families' cost per image) and returns a record naming its machine;
its layout (``data/benchmarks/README.md``) is checked by :func:`validate_record`,
:func:`format_table` prints it, ``python -m course_lib.bench`` stores it.

Introduced in notebooks/09_speed_benchmarks.ipynb.
"""

from __future__ import annotations

import datetime
import os
import re

import numpy as np

from course_lib import config, data, hardware, models
from course_lib.bench import generation, harness, sampling_speed, training_speed

SCHEMA_VERSION = 2
# The machine line's key in ``hardware``, per schema version: bench's own
# ``device`` (1), :func:`course_lib.hardware.machine_record`'s ``summary`` (2).
MACHINE_KEYS = {1: "device", 2: "summary"}
TARGETS = {
    "sampling_fraction_of_fp32_peak": (0.9, ">="),
    "batched_over_article_predict": (100.0, ">="),
    "batch1_latency_ms": (3.0, "<="),
    "build_gan_over_reference_fp32": (1.0, ">="),
}
BFLOAT16_TRAINING_TARGET = 1.3  # fit vs the fp32 loop where bfloat16 is picked
RESULT_KEYS = {
    "name": str,
    "items_per_call": (int, float),
    "calls_per_window": int,
    "window_seconds": list,
    "images_per_second": dict,
    "ms_per_call": dict,
    "cpu_share": (int, float),
    "device": str,
}
RECORD_KEYS = {
    "schema_version": int,
    "created_utc": str,
    "profile": dict,
    "hardware": dict,
    "load": dict,
    "peaks": list,
    "sampling": list,
    "training": list,
    "generation_cost": list,
    "targets": list,
    "warnings": list,
}


SUITE_SIZES = {
    # profile -> sampling batches, training batch, steps per fit call (one call per
    # window, 20 steps in full) and windows, denoiser T, family batch, diffusion T.
    "quick": dict(
        batches=(1, 64),
        train_batch=64,
        train_steps=1,
        train_windows=2,
        steps_T=10,
        family=8,
        family_T=(10, 100),
        cached_steps=49,
    ),
    "full": dict(
        batches=(1, 4, 16, 64, 256, 1024),
        train_batch=256,
        train_steps=20,
        train_windows=3,
        steps_T=50,
        family=16,
        family_T=(50, 1000),
        cached_steps=196,
    ),
}


def machine_line(record: dict) -> str:
    """Return the line naming the machine a validated record ran on (its CPU/GPU)."""
    return record["hardware"][MACHINE_KEYS[record["schema_version"]]]


def _check_keys(entry, keys, where):
    """Raise ``ValueError`` unless ``entry`` has each key of ``keys`` and its type."""
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be an object, got {type(entry).__name__}.")
    for key, kind in keys.items():
        if key not in entry:
            raise ValueError(f"{where} lacks the key {key!r}; see data/benchmarks.")
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(entry[key], kinds) or (
            isinstance(entry[key], bool) and bool not in kinds
        ):
            raise ValueError(f"{where}[{key!r}] has the wrong type: {entry[key]!r}.")


def validate_record(record: dict) -> dict:
    """Check a benchmark record against the schema of data/benchmarks/README.md.

    Args:
        record: A record, as written by :func:`run_suite` (after ``json.load``).

    Returns:
        The record, unchanged.

    Raises:
        ValueError: Naming the first missing or mistyped field.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    _check_keys(record, RECORD_KEYS, "record")
    if record["schema_version"] not in MACHINE_KEYS:
        raise ValueError(
            f"schema_version {record['schema_version']} is not one of "
            f"{sorted(MACHINE_KEYS)}; rerun python -m course_lib.bench to refresh "
            "the file."
        )
    machine_key = MACHINE_KEYS[record["schema_version"]]
    _check_keys(record["hardware"], {machine_key: str, "cores": int}, "hardware")
    for section in ("peaks", "sampling", "training", "generation_cost"):
        for index, entry in enumerate(record[section]):
            _check_keys(entry, RESULT_KEYS, f"{section}[{index}]")
            stats = entry["images_per_second"]
            _check_keys(
                stats,
                {"median": float, "min": float, "max": float},
                f"{section}[{index}].images_per_second",
            )
            if not stats["min"] <= stats["median"] <= stats["max"]:
                raise ValueError(f"{section}[{index}]: min <= median <= max fails.")
    for index, target in enumerate(record["targets"]):
        _check_keys(
            target,
            {
                "name": str,
                "measured": (int, float),
                "target": (int, float),
                "met": bool,
            },
            f"targets[{index}]",
        )
    return record


def target_rows(peaks, sampling, training, precision: str = "float32") -> list[dict]:
    """Compute the four performance targets from measured results.

    Sampling is judged at the largest batch (1,024 in full), in float32 against the
    float32 peak; fit must reach :data:`BFLOAT16_TRAINING_TARGET` if bf16 was picked.

    Args:
        peaks: ``{dtype: Result}`` from :func:`harness.matmul_peak`.
        sampling: Sampling results tagged with ``method`` and ``batch_size``.
        training: Training results tagged with ``loop`` (``"reference fp32"``,
            ``"build_gan"``).
        precision: The precision ``build_gan()`` trained in.

    Returns:
        Dicts with ``name``, ``measured``, ``target``, ``met``, ``detail``.
    """
    rows = []

    def add(name, measured, detail):
        target, sense = TARGETS[name]
        if name == "build_gan_over_reference_fp32" and "bfloat16" in precision:
            target = BFLOAT16_TRAINING_TARGET
        met = measured >= target if sense == ">=" else measured <= target
        row = dict(name=name, measured=float(measured), target=target, sense=sense)
        rows.append(dict(row, met=bool(met), detail=detail))

    largest = max((r.batch_size for r in sampling), default=0)
    batched = [r for r in sampling if r.batch_size == largest >= 64 and r.gflops]
    article = [r for r in sampling if r.method == sampling_speed.SAMPLING_METHODS[0]]
    in_fp32 = [r for r in batched if "float16" not in r.method]  # like the peak
    if in_fp32 and "float32" in peaks:
        best = max(in_fp32, key=lambda r: r.gflops)
        add(
            "sampling_fraction_of_fp32_peak",
            best.gflops / peaks["float32"].gflops,
            f"{best.name}: {best.gflops:.0f} GFLOP/s vs fp32 matmul "
            f"{peaks['float32'].gflops:.0f} GFLOP/s",
        )
        best = max(batched, key=lambda r: r.gflops)
        if article:
            rate = best.images_per_second["median"]
            slow = article[0].images_per_second["median"]
            add(
                "batched_over_article_predict",
                rate / slow,
                f"{best.name}: {rate:,.0f} images/s vs {slow:,.1f} images/s",
            )
    single = [
        r
        for r in sampling
        if r.batch_size == 1 and r.method != sampling_speed.SAMPLING_METHODS[0]
    ]
    if single:
        fastest = min(single, key=lambda r: r.ms_per_call["median"])
        add(
            "batch1_latency_ms",
            fastest.ms_per_call["median"],
            f"{fastest.name}: {fastest.ms_per_call['median']:.2f} ms per image",
        )
    by_loop = {r.loop: r for r in training}
    if "reference fp32" in by_loop and "build_gan" in by_loop:
        ours, theirs = by_loop["build_gan"], by_loop["reference fp32"]
        rate, ref = (r.images_per_second["median"] for r in (ours, theirs))
        # Per FLOP too: the alternating step has one more D pass than the reference.
        per_flop = ours.gflops / theirs.gflops if ours.gflops and theirs.gflops else 0
        add(
            "build_gan_over_reference_fp32",
            rate / ref,
            f"build_gan(): {rate:,.0f} images/s vs reference {ref:,.0f} images/s"
            + (f"; per FLOP {per_flop:.2f}x" if per_flop else "")
            + _fit_overhead(by_loop),
        )
    return rows


def _fit_overhead(by_loop) -> str:
    """The detail comparing fit with the same float32 step in a bare loop."""
    fit, loop = by_loop.get("build_gan fp32"), by_loop.get("build_gan fp32 step loop")
    if not (fit and loop):
        return ""
    rate, bare = (r.images_per_second["median"] for r in (fit, loop))
    return f"; in float32, fit runs its train_step at {rate / bare:.2f}x a bare loop"


def run_suite(quick: bool = False, images=None, log=print) -> dict:
    """Run every benchmark of the course and return the record to store.

    Args:
        quick: Use the quick profile's short windows and fewer sizes.
        images: uint8 MNIST training digits (loaded when ``None``).
        log: Where progress lines go.

    Returns:
        A record that passes :func:`validate_record`.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    profile = config.get_profile("quick" if quick else "full")
    sizes = SUITE_SIZES[profile.name]
    seconds, windows = profile.bench_seconds, 3
    load_before = list(os.getloadavg())
    if images is None:
        images = data.load_mnist(verbose=False).x_train

    log("measuring sampling, interleaved with the matmul peaks ...")
    generator = models.dcgan_generator(sampling_speed.LATENT_DIM)
    dtypes = ("float32", "bfloat16", "float16")
    workloads = [harness.matmul_workload(dtype) for dtype in dtypes]
    workloads.append(
        sampling_speed.sampling_workload(
            generator, sampling_speed.SAMPLING_METHODS[0], 1
        )
    )
    tags = [(sampling_speed.SAMPLING_METHODS[0], 1)]
    for batch_size in sizes["batches"]:
        for method in sampling_speed.sampling_methods(batch_size, sizes["batches"]):
            workloads.append(
                sampling_speed.sampling_workload(generator, method, batch_size)
            )
            tags.append((method, batch_size))
    measured = harness.measure_many(workloads, seconds, windows)
    peaks = dict(zip(dtypes, measured[: len(dtypes)], strict=True))
    for result in peaks.values():
        log(f"  {result}: {result.gflops:,.0f} GFLOP/s")
    sampling = [
        harness.tag(result, method=method, batch_size=batch_size)
        for result, (method, batch_size) in zip(
            measured[len(dtypes) :], tags, strict=True
        )
    ]
    for result in sampling:
        log(f"  {result}")

    log("measuring training ...")
    training = training_speed.measure_training(
        images,
        sizes["train_batch"],
        sizes["train_steps"],
        seconds,
        sizes["train_windows"],
        log,
    )

    log("measuring the cost per image of three generator families ...")
    family_workloads, parameters = generation.generation_cost_workloads(
        sizes["family"], sizes["steps_T"], cached_steps=sizes["cached_steps"]
    )
    generation_cost = harness.measure_many(
        family_workloads, seconds, windows, warmup_calls=1
    )
    for result in generation_cost:
        result.parameters = parameters[result.name]
        log(f"  {result}")

    def entries(results, *extra):
        rows = []
        for result in results:
            row = result.as_dict()
            for key in extra:
                row[key] = getattr(result, key, None)
            rows.append(row)
        return rows

    all_results = [*peaks.values(), *sampling, *training, *generation_cost]
    record = {
        "schema_version": SCHEMA_VERSION,
        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(
            timespec="seconds"
        ),
        "profile": {
            "name": profile.name,
            "window_seconds": seconds,
            "windows": windows,
            **sizes,
        },
        "hardware": dict(
            hardware.machine_record(),
            onednn=os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0",
        ),
        "load": {"loadavg_before": load_before, "loadavg_after": list(os.getloadavg())},
        "peaks": [
            dict(row, dtype=dtype)
            for dtype, row in zip(peaks, entries(peaks.values()), strict=True)
        ],
        "sampling": entries(sampling, "method", "batch_size"),
        "training": entries(training, "loop", "settings"),
        "generation_cost": entries(generation_cost, "parameters"),
        "targets": target_rows(
            peaks, sampling, training, hardware.recommended_settings()["precision"]
        ),
        "warnings": sorted({r.warning for r in all_results if r.warning}),
    }
    return validate_record(json_ready(record))


def json_ready(value):
    """Return ``value`` with tuples as lists and NumPy numbers as Python ones."""
    if isinstance(value, dict):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def default_json_path(record: dict):
    """Return ``data/benchmarks/<machine>_<profile>.json`` for a record."""
    device = machine_line(record).lower()
    slug = re.sub(r"[^a-z0-9]+", "-", device).strip("-")[:60]
    folder = config.data_dir() / "benchmarks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{slug}_{record['profile']['name']}.json"


def format_table(record: dict) -> str:
    """Return the printed summary table of a record."""
    lines = [f"machine: {machine_line(record)}", ""]
    lines.append(f"{'benchmark':58} {'images/s':>11} {'ms/call':>9} {'spread':>7}")
    for section in ("peaks", "sampling", "training", "generation_cost"):
        for row in record[section]:
            rate = row["images_per_second"]
            lines.append(
                f"{row['name'][:58]:58} {rate['median']:>11,.1f} "
                f"{row['ms_per_call']['median']:>9.2f} {rate['spread']:>7.0%}"
            )
    lines.append("")
    for target in record["targets"]:
        verdict = "met" if target["met"] else "MISSED"
        lines.append(
            f"{target['name']}: {target['measured']:.3g} (target {target['sense']} "
            f"{target['target']:g}) {verdict} - {target['detail']}"
        )
    load = record["load"]
    lines.append(
        f"load average before/after: {load['loadavg_before'][0]:.2f} / "
        f"{load['loadavg_after'][0]:.2f}"
    )
    for warning in record["warnings"]:
        lines.append(f"warning: {warning}")
    return "\n".join(lines)
