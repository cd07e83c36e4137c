"""The benchmark command and its JSON record.

``python -m course_lib.bench [--quick] [--json FILE]`` runs the workloads of
:mod:`course_lib.bench_suite` (sampling with the matmul peaks, training, and the
cost per image of four generator families), prints a table with the course's
performance targets, and writes a record to ``data/benchmarks/``. The record's
layout is documented in ``data/benchmarks/README.md`` and checked by
:func:`validate_record`.

Introduced in notebooks/06_speed_benchmarks.ipynb.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import tensorflow as tf

from course_lib import bench, bench_suite, models

SCHEMA_VERSION = 1
TARGETS = {
    "sampling_fraction_of_fp32_peak": (0.9, ">="),
    "batched_over_article_predict": (100.0, ">="),
    "batch1_latency_ms": (5.0, "<="),
    "build_gan_over_reference_fp32": (1.3, ">="),
}
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


def hardware_record() -> dict:
    """Return the hardware and software description stored with every result."""
    import platform

    from course_lib import hardware

    return {
        "device": bench.device_description(),
        "cpu_model": hardware.cpu_model(),
        "cores": bench.cpu_count(),
        "gpus": hardware.gpu_details(),
        "bfloat16_matrix_units": hardware.has_bfloat16_matrix_units(),
        "recommended_settings": hardware.recommended_settings(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0",
    }


def _check_keys(entry, keys, where):
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
        record: A record, as written by :func:`main` (after ``json.load``).

    Returns:
        The record, unchanged.

    Raises:
        ValueError: Naming the first missing or mistyped field.

    Introduced in notebooks/06_speed_benchmarks.ipynb.
    """
    _check_keys(record, RECORD_KEYS, "record")
    if record["schema_version"] != SCHEMA_VERSION:
        raise ValueError(
            f"schema_version {record['schema_version']} is not {SCHEMA_VERSION}; "
            "rerun python -m course_lib.bench to refresh the file."
        )
    _check_keys(record["hardware"], {"device": str, "cores": int}, "hardware")
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


def target_rows(peaks, sampling, training) -> list[dict]:
    """Compute the four performance targets from measured results.

    Args:
        peaks: ``{dtype: Result}`` from :func:`bench.matmul_peak`.
        sampling: Sampling results with ``method`` and ``batch_size`` attributes
            (as set by :func:`run_suite`).
        training: Training results with a ``loop`` attribute (``"reference
            fp32"`` and ``"build_gan"``).

    Returns:
        A list of dicts with ``name``, ``measured``, ``target``, ``met``,
        ``detail``.
    """
    rows = []

    def add(name, measured, detail):
        target, sense = TARGETS[name]
        met = measured >= target if sense == ">=" else measured <= target
        rows.append(
            {
                "name": name,
                "measured": float(measured),
                "target": target,
                "sense": sense,
                "met": bool(met),
                "detail": detail,
            }
        )

    batched = [r for r in sampling if r.batch_size >= 64 and r.gflops is not None]
    article = [r for r in sampling if r.method == bench_suite.SAMPLING_METHODS[0]]
    if batched and "float32" in peaks:
        best = max(batched, key=lambda r: r.gflops)
        add(
            "sampling_fraction_of_fp32_peak",
            best.gflops / peaks["float32"].gflops,
            f"{best.name}: {best.gflops:.0f} GFLOP/s vs fp32 matmul "
            f"{peaks['float32'].gflops:.0f} GFLOP/s",
        )
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
        if r.batch_size == 1 and r.method != bench_suite.SAMPLING_METHODS[0]
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
        ours = by_loop["build_gan"].images_per_second["median"]
        theirs = by_loop["reference fp32"].images_per_second["median"]
        add(
            "build_gan_over_reference_fp32",
            ours / theirs,
            f"build_gan(): {ours:,.0f} images/s vs reference {theirs:,.0f} images/s",
        )
    return rows


def run_suite(quick: bool = False, images=None, log=print) -> dict:
    """Run every benchmark of the course and return the record to store.

    Args:
        quick: Use the quick profile's short windows and fewer sizes.
        images: uint8 MNIST training digits (loaded when ``None``).
        log: Where progress lines go.

    Returns:
        A record that passes :func:`validate_record`.

    Introduced in notebooks/06_speed_benchmarks.ipynb.
    """
    import datetime

    from course_lib import config, data

    profile = config.get_profile("quick" if quick else "full")
    sizes = bench_suite.SUITE_SIZES[profile.name]
    seconds, windows = profile.bench_seconds, 3
    load_before = list(os.getloadavg())
    if images is None:
        images = data.load_mnist(verbose=False).x_train

    log("measuring sampling, interleaved with the matmul peaks ...")
    generator = models.dcgan_generator(bench_suite.LATENT_DIM)
    dtypes = ("float32", "bfloat16", "float16")
    workloads = [bench.matmul_workload(dtype) for dtype in dtypes]
    workloads.append(
        bench_suite.sampling_workload(generator, bench_suite.SAMPLING_METHODS[0], 1)
    )
    tags = [(bench_suite.SAMPLING_METHODS[0], 1)]
    for batch_size in sizes["batches"]:
        for method in bench_suite.sampling_methods(batch_size, sizes["batches"]):
            workloads.append(
                bench_suite.sampling_workload(generator, method, batch_size)
            )
            tags.append((method, batch_size))
    measured = bench.measure_many(workloads, seconds, windows)
    peaks = dict(zip(dtypes, measured[: len(dtypes)], strict=True))
    for result in peaks.values():
        log(f"  {result}: {result.gflops:,.0f} GFLOP/s")
    sampling = [
        bench_suite.tag(result, method=method, batch_size=batch_size)
        for result, (method, batch_size) in zip(
            measured[len(dtypes) :], tags, strict=True
        )
    ]
    for result in sampling:
        log(f"  {result}")

    log("measuring training ...")
    batch, steps = sizes["train_batch"], sizes["train_steps"]
    train = [
        bench_suite.reference_workload(
            images, batch, steps, f"reference two-tape loop fp32, b{batch}"
        ),
        bench_suite.build_gan_workload(
            images, batch, steps, f"build_gan() + fit, b{batch}"
        ),
        bench_suite.build_gan_workload(
            images,
            batch,
            steps,
            f"build_gan(precision='float32') + fit, b{batch}",
            precision="float32",
        ),
    ]
    loops = ["reference fp32", "build_gan", "build_gan fp32"]
    measured = bench.measure_many(
        train, max(seconds, 1.0), sizes["train_windows"], warmup_calls=1
    )
    training = [
        bench_suite.tag(result, loop=loop, settings=getattr(workload, "settings", None))
        for result, loop, workload in zip(measured, loops, train, strict=True)
    ]
    for result in training:
        log(f"  {result}")

    log("measuring the cost per image of three generator families ...")
    family_workloads, parameters = bench_suite.generation_cost_workloads(
        sizes["family"], sizes["steps_T"], cached_steps=sizes["cached_steps"]
    )
    generation_cost = bench.measure_many(
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
        "hardware": hardware_record(),
        "load": {"loadavg_before": load_before, "loadavg_after": list(os.getloadavg())},
        "peaks": [
            dict(row, dtype=dtype)
            for dtype, row in zip(peaks, entries(peaks.values()), strict=True)
        ],
        "sampling": entries(sampling, "method", "batch_size"),
        "training": entries(training, "loop", "settings"),
        "generation_cost": entries(generation_cost, "parameters"),
        "targets": target_rows(peaks, sampling, training),
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
    """Return ``data/benchmarks/<device>_<profile>.json`` for a record."""
    import re

    from course_lib import config

    device = record["hardware"]["device"].lower()
    slug = re.sub(r"[^a-z0-9]+", "-", device).strip("-")[:60]
    folder = config.data_dir() / "benchmarks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{slug}_{record['profile']['name']}.json"


def format_table(record: dict) -> str:
    """Return the printed summary table of a record."""
    lines = [f"hardware: {record['hardware']['device']}", ""]
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


def main(argv=None) -> int:
    """Run ``python -m course_lib.bench [--quick] [--json FILE]``.

    Args:
        argv: The command-line arguments.

    Returns:
        The exit status.
    """
    import argparse
    import json

    parser = argparse.ArgumentParser(
        prog="python -m course_lib.bench",
        description="Measure sampling and training speed and store the figures.",
    )
    parser.add_argument("--quick", action="store_true", help="short windows")
    parser.add_argument(
        "--json",
        help="where to write the record (default: "
        "data/benchmarks/<device>_<profile>.json)",
    )
    args = parser.parse_args(argv)
    tf.get_logger().setLevel("ERROR")
    record = run_suite(quick=args.quick)
    print()
    print(format_table(record))
    path = args.json or default_json_path(record)
    with open(path, "w") as handle:
        json.dump(record, handle, indent=1)
        handle.write("\n")
    print(f"\nwrote {os.path.relpath(path)}")
    return 0
