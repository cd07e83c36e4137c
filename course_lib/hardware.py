"""What the machine can do, and the fastest safe settings for it.

``recommended_settings()`` is what ``gan.build_gan(precision=None, ...)`` and
``build_vae`` use when the caller leaves a choice open. Its rules come from the
measurements in notebooks/09_speed_benchmarks.ipynb (stored in
``data/benchmarks/``):

- A CPU with bfloat16 matrix units (Intel AMX, flag ``amx_bf16``) multiplies
  bfloat16 matrices several times faster than float32 ones, so it uses the
  ``"mixed_bfloat16"`` policy: variables and the optimizer stay float32, and the
  model's outputs (the generator's tanh image, the discriminator's logit) are
  float32 layers. bfloat16 has float32's exponent range, so no loss scaling is
  needed. Measured on 2-core Xeons with AMX: DCGAN sampling about 3x faster
  than float32, and ``build_gan().fit`` 1.5x to 1.6x the float32 reference loop
  (1.0x to 1.6x before the tf.data wait of ``course_lib.pipeline`` was removed).
- A CPU with bfloat16 *instructions* but no matrix units (flag ``avx512_bf16``)
  is measured, because its flags do not predict bfloat16's speed: on an Intel
  Xeon with those flags bfloat16 matrix products ran at 0.58x of float32, on an
  AMD EPYC at 1.9x (and the tutorial's loop in mixed_bfloat16 at 1.48x, in a
  notebook 09 run there). :func:`probed_bfloat16_speedup` times one 2,048-wide
  matrix product in each precision (about a second, once per process), and
  ``"mixed_bfloat16"`` is picked where bfloat16 is at least
  :data:`MIN_BFLOAT16_SPEEDUP` times faster.
- Any other CPU keeps ``"float32"``: it has no bfloat16 flag this rule knows
  (x86 flags only), and float16 is slower than float32 on CPUs.
- A GPU of compute capability 8.0+ (A100, H100) has bfloat16 tensor cores, so
  it uses ``"mixed_bfloat16"`` too.
- A GPU of compute capability 7.x (Volta such as the V100, Turing such as
  Colab's T4, 7.5) has float16 tensor cores but no bfloat16 ones, so it uses
  ``"mixed_float16"``. float16's range is small (largest 65504, smallest normal
  6e-5), so small gradients would flush to zero: ``training.adam`` wraps the
  optimizer in a ``LossScaleOptimizer``, whose dynamic scale the GAN's and the
  VAE's ``train_step`` apply (``optimizer.scale_loss``) and which it lowers
  when a step overflows (that step is skipped); tests/test_precision.py.
- An older GPU (no tensor cores) keeps ``"float32"``, as does a GPU whose
  compute capability cannot be read. The GPU rules are not measured in this
  course (no GPU was available); they follow the vendors' guidance.
- XLA (``jit_compile``) is off on CPUs: measured, it was slower than plain
  ``tf.function`` for DCGAN sampling (0.55-0.94x) and training (about 0.6x),
  because it replaces oneDNN's convolutions with its own. On a GPU it is on.
- ``steps_per_execution`` stays 1: a DCGAN step at batch 256 takes hundreds of
  milliseconds, so the dispatch it saves is small (4 per execution: no gain).

The precision chosen here is applied by ``course_lib.replicas.build_scope``.

Introduced in notebooks/09_speed_benchmarks.ipynb.
"""

from __future__ import annotations

import functools
import os
import platform
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import tensorflow as tf

# CPU flags (from /proc/cpuinfo) that mean fast bfloat16 matrix products.
BFLOAT16_MATRIX_FLAGS = ("amx_bf16",)
# CPU flags of bfloat16 instructions without matrix units: their speed is measured.
BFLOAT16_INSTRUCTION_FLAGS = ("avx512_bf16",)
# Such a CPU gets bfloat16 only at this speed-up or more (measured: 0.58x, 1.9x).
MIN_BFLOAT16_SPEEDUP = 1.3


def gpu_names() -> list[str]:
    """Return the names of the visible GPUs (empty on a CPU-only machine).

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    return [gpu.name for gpu in tf.config.list_physical_devices("GPU")]


def gpu_details() -> list[str]:
    """Return a readable model name for each visible GPU, such as ``"NVIDIA H100"``.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    details = []
    for gpu in tf.config.list_physical_devices("GPU"):
        info = tf.config.experimental.get_device_details(gpu)
        details.append(str(info.get("device_name", gpu.name)))
    return details


def gpu_compute_capability() -> tuple[int, int] | None:
    """Return the first GPU's compute capability, or ``None`` without a GPU."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    capability = tf.config.experimental.get_device_details(gpus[0]).get(
        "compute_capability"
    )
    return tuple(capability) if capability else None


def _cpuinfo(field: str) -> str | None:
    """The first ``field: value`` of /proc/cpuinfo (Linux), or ``None``."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_flags() -> set[str]:
    """Return the CPU feature flags (Linux), or an empty set where unknown."""
    return set((_cpuinfo("flags") or "").split())


def cpu_model() -> str:
    """Return the CPU's model name (``"unknown CPU"`` where it cannot be read)."""
    return _cpuinfo("model name") or platform.processor() or "unknown CPU"


def has_bfloat16_matrix_units(flags: set[str] | None = None) -> bool:
    """Return whether the CPU has bfloat16 matrix units (Intel AMX).

    Args:
        flags: CPU flags to inspect; defaults to :func:`cpu_flags`.
    """
    flags = cpu_flags() if flags is None else flags
    return any(flag in flags for flag in BFLOAT16_MATRIX_FLAGS)


def needs_bfloat16_measurement(flags: set[str]) -> bool:
    """Return whether bfloat16's speed must be measured: instructions, no AMX."""
    has_instructions = any(flag in flags for flag in BFLOAT16_INSTRUCTION_FLAGS)
    return has_instructions and not has_bfloat16_matrix_units(flags)


def bfloat16_speedup(size: int = 2048, repeats: int = 4) -> float:
    """Time a square matmul in bfloat16 and float32; return the speed ratio.

    The precisions alternate, each keeping its fastest of ``repeats`` runs, so
    a busy moment slows neither more. 2,048 is the side of the stored records'
    matmul peaks (data/benchmarks/), which set the threshold.

    Args:
        size: The matrices' side.
        repeats: Timed runs per precision, after one untimed warm-up run.

    Returns:
        float32's fastest time over bfloat16's: above 1 where bfloat16 is faster.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    product = tf.function(lambda a: tf.reduce_sum(tf.matmul(a, a)))
    with tf.device("/CPU:0"):
        base = tf.random.stateless_normal((size, size), seed=(0, 0))
        operands = {dtype: tf.cast(base, dtype) for dtype in ("float32", "bfloat16")}
        best = {}
        for operand in operands.values():
            product(operand).numpy()  # trace and warm up
        for _ in range(repeats):
            for dtype, operand in operands.items():
                start = time.perf_counter()
                product(operand).numpy()
                elapsed = time.perf_counter() - start
                best[dtype] = min(best.get(dtype, elapsed), elapsed)
    return best["float32"] / best["bfloat16"]


@functools.cache
def probed_bfloat16_speedup() -> float | None:
    """The rule's :func:`bfloat16_speedup`, measured once per process.

    ``None`` (kept too, not retried) where it cannot run, as in a TensorFlow
    build without a bfloat16 matmul kernel: the rule then keeps float32.
    """
    try:
        return bfloat16_speedup()
    except tf.errors.OpError:
        return None


def measured_bfloat16_speedup(flags: set[str] | None = None) -> float | None:
    """Return :func:`probed_bfloat16_speedup` where the rules need it, else ``None``."""
    flags = cpu_flags() if flags is None else flags
    if gpu_names() or not needs_bfloat16_measurement(flags):
        return None
    return probed_bfloat16_speedup()


# GPU compute capabilities from which a half-precision policy pays off.
GPU_BFLOAT16_CAPABILITY = (8, 0)  # Ampere and newer: bfloat16 tensor cores.
GPU_FLOAT16_CAPABILITY = (7, 0)  # Volta and Turing: float16 tensor cores only.
DEVICE_KINDS = ("CPU", "GPU")


def _capability_tuple(compute_capability) -> tuple[int, int] | None:
    """Read ``(7, 5)``, ``[7, 5]``, ``"7.5"`` or ``None`` as a tuple of two ints."""
    if compute_capability is None:
        return None
    try:
        if isinstance(compute_capability, str):
            compute_capability = compute_capability.split(".")
        major, minor = (int(part) for part in compute_capability)
    except (TypeError, ValueError):
        raise ValueError(
            f"compute_capability must be (major, minor) such as (7, 5), or "
            f'"7.5", or None where unknown; got {compute_capability!r}.'
        ) from None
    return major, minor


def recommend_precision(
    device_kind: str, compute_capability=None, cpu_flags=(), bfloat16_speedup=None
) -> str:
    """Apply the precision rules of this module's docstring to a described device.

    A pure function of its arguments, so the rules can be tested for machines
    the tests do not run on (a T4, an A100, an AMX CPU).

    Args:
        device_kind: ``"GPU"`` or ``"CPU"`` (either case): the device that
            trains.
        compute_capability: The GPU's ``(major, minor)``, e.g. ``(7, 5)`` for a
            T4, or ``"7.5"``; ``None`` where unknown (ignored for a CPU).
        cpu_flags: The CPU's feature flags (from ``/proc/cpuinfo``); only used
            for a CPU.
        bfloat16_speedup: For a CPU with bfloat16 instructions but no matrix
            units, the measured ratio of bfloat16 to float32 matmul speed (from
            :func:`probed_bfloat16_speedup`); ``None`` where unmeasured, which keeps
            float32 there.

    Returns:
        ``"mixed_bfloat16"``, ``"mixed_float16"`` or ``"float32"``.

    Raises:
        ValueError: If the device kind or the compute capability is unreadable.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    kind = str(device_kind).upper()
    if kind not in DEVICE_KINDS:
        raise ValueError(
            f"device_kind must be one of {DEVICE_KINDS}, got {device_kind!r}. "
            'Fix: pass "GPU" when a GPU trains, "CPU" otherwise.'
        )
    if kind == "CPU":
        flags = set(cpu_flags or ())
        measured_fast = (bfloat16_speedup or 0.0) >= MIN_BFLOAT16_SPEEDUP
        if has_bfloat16_matrix_units(flags) or (
            needs_bfloat16_measurement(flags) and measured_fast
        ):
            return "mixed_bfloat16"
        return "float32"
    capability = _capability_tuple(compute_capability)
    if capability is None:
        return "float32"
    if capability >= GPU_BFLOAT16_CAPABILITY:
        return "mixed_bfloat16"
    if capability >= GPU_FLOAT16_CAPABILITY:
        return "mixed_float16"
    return "float32"


def fastest_safe_policy() -> str:
    """Return the Keras dtype policy that is fastest and numerically safe here.

    Returns:
        ``"mixed_bfloat16"`` on an AMX CPU, on a CPU whose bfloat16 products
        measured fast (:func:`probed_bfloat16_speedup`) or on a GPU of compute
        capability 8.0+, ``"mixed_float16"`` on a GPU of compute capability 7.x
        (a T4, a V100), ``"float32"`` otherwise. ``COURSE_PRECISION`` overrides
        the choice.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    override = os.environ.get("COURSE_PRECISION", "").strip()
    if override:
        if override not in ("float32", "mixed_bfloat16", "mixed_float16"):
            raise ValueError(
                f"COURSE_PRECISION={override!r} is not a policy; use float32, "
                "mixed_bfloat16 or mixed_float16."
            )
        return override
    kind = "GPU" if gpu_names() else "CPU"
    flags = cpu_flags()  # measured_bfloat16_speedup is None on a GPU machine
    speedup = measured_bfloat16_speedup(flags)
    return recommend_precision(kind, gpu_compute_capability(), flags, speedup)


def recommended_settings() -> dict:
    """Return the training settings that measured fastest and safe on this machine.

    Returns:
        A dict with ``precision`` (a Keras dtype policy name), ``jit_compile``
        (bool) and ``steps_per_execution`` (int).

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    on_gpu = bool(gpu_names())
    return {
        "precision": fastest_safe_policy(),
        "jit_compile": on_gpu,
        "steps_per_execution": 1,
    }


PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def resolve_settings(
    precision: str | None = None,
    jit_compile: bool | None = None,
    steps_per_execution: int | None = None,
) -> dict:
    """Fill the choices a caller left open (``None``) from :func:`recommended_settings`.

    Args:
        precision: A Keras dtype policy name, or ``None`` for the recommended one.
        jit_compile: Whether to XLA-compile the train step, or ``None``.
        steps_per_execution: Batches per compiled call, or ``None``.

    Returns:
        A dict with ``precision``, ``jit_compile`` and ``steps_per_execution``.

    Raises:
        ValueError: If the precision is not one of :data:`PRECISIONS`.

    Introduced in notebooks/05_gan_training.ipynb.
    """
    recommended = recommended_settings()
    chosen = {
        "precision": precision,
        "jit_compile": jit_compile,
        "steps_per_execution": steps_per_execution,
    }
    settings = {k: recommended[k] if v is None else v for k, v in chosen.items()}
    if settings["precision"] not in PRECISIONS:
        raise ValueError(
            f"precision must be one of {PRECISIONS}, got {settings['precision']!r}. "
            "Fix: pass one of those, or None for the fastest safe one."
        )
    return settings


# ------------------------------------------------------------ the machine, once

# The CPU flags worth naming in every record: they decide the precision rules.
RECORDED_CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_count() -> int:
    """Return the cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def machine_record() -> dict:
    """Return the one description of this machine stored with every result.

    Returns:
        A JSON-ready dict: ``summary`` (one line), ``cpu_model``, ``cores``,
        ``cpu_flags`` (those of :data:`RECORDED_CPU_FLAGS` present), ``gpus``,
        ``bfloat16_matrix_units``, ``bfloat16_speedup`` (the probe's ratio
        where the rule needs one, even if ``COURSE_PRECISION`` overrides it;
        ``None`` elsewhere), ``recommended_settings`` and the versions of
        Python, TensorFlow and Keras.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    flags = cpu_flags()
    return {
        "summary": machine_summary(),
        "cpu_model": cpu_model(),
        "cores": cpu_count(),
        "cpu_flags": [flag for flag in RECORDED_CPU_FLAGS if flag in flags],
        "gpus": gpu_details(),
        "bfloat16_matrix_units": has_bfloat16_matrix_units(flags),
        "bfloat16_speedup": measured_bfloat16_speedup(flags),
        "recommended_settings": recommended_settings(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def machine_summary() -> str:
    """Return one line naming the GPUs, or the CPU model and its core count.

    Introduced in notebooks/09_speed_benchmarks.ipynb.
    """
    gpus = gpu_details()
    if gpus:
        return "GPU: " + ", ".join(gpus)
    return f"CPU: {cpu_model()} ({cpu_count()} cores), no GPU"
