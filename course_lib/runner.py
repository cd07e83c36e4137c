"""Run every course notebook headlessly, in order and in place.

This is how the committed outputs are refreshed (``make course PROFILE=full``).
Each notebook is executed top to bottom in a fresh kernel; progress is printed
per notebook, and a table of notebook, seconds and ok/failed ends the run. Each
successful run's wall time is merged into ``data/run_times.json``, from which
``course_lib.runtimes`` renders every run-time statement.

The kernels start with TensorFlow's C++ logging limited to fatal messages
(``QUIET_KERNEL_ENV``), so committed outputs carry no C++ log noise; Python
warnings and exceptions are unaffected. Set ``COURSE_VERBOSE_TF=1`` to see it.

Usage::

    python -m course_lib.runner --profile quick            # every notebook
    python -m course_lib.runner --profile full notebooks/02_gan_loss_derivation.ipynb
    python -m course_lib.runner --profile quick --time-only  # record, keep outputs

Introduced in notebooks/00_start_here.ipynb.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import sys
import time
from pathlib import Path

from course_lib import config, hardware, runtimes, store

NOTEBOOK_PATTERN = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")
DEFAULT_CELL_TIMEOUT = 1800
VERBOSE_ENV_VAR = "COURSE_VERBOSE_TF"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
# TensorFlow 2.21's C++ runtime logs harmless ERROR lines during normal work
# ("use_unbounded_threadpool ... not in the op definition", "remapper failed",
# "oneDNN supports DT_INT32 only on platforms with AVX-512", "failed call to
# cuInit"); level 3 keeps only FATAL. Measured: level 2 shows them, 3 does not.
# The notices printed while TensorFlow loads ignore this level (absl prints them
# before its log is initialised); importing course_lib silences those.
# TF_ENABLE_ONEDNN_OPTS is deliberately left alone: it changes numerics and speed.
QUIET_KERNEL_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3"}


def course_notebooks(folder: Path | None = None) -> list[Path]:
    """Return the numbered course notebooks in order (scratch ``_*`` files excluded).

    Args:
        folder: The notebooks folder; defaults to ``<repo>/notebooks``.

    Returns:
        Sorted paths such as ``notebooks/00_start_here.ipynb``.
    """
    folder = folder or config.repo_root() / "notebooks"
    return sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_PATTERN.match(p.name))


def redact_paths(text: str, replacements: dict[str, str]) -> str:
    """Replace machine-specific paths in an output with neutral placeholders.

    Args:
        text: Output text.
        replacements: Absolute path prefix to placeholder, longest first.

    Returns:
        The text without those paths.
    """
    for prefix, placeholder in replacements.items():
        text = text.replace(prefix, placeholder)
    return text


def _path_replacements() -> dict[str, str]:
    pairs = {
        sys.prefix: "<python-env>",
        str(config.repo_root()): "<course>",
        os.path.expanduser("~"): "~",
    }
    return dict(sorted(pairs.items(), key=lambda item: -len(item[0])))


def _redact_notebook(notebook, replacements: dict[str, str]) -> None:
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = redact_paths(output["text"], replacements)
            for key, value in output.get("data", {}).items():
                if key.startswith("text/") and isinstance(value, str):
                    output["data"][key] = redact_paths(value, replacements)


def run_kind(profile: str, retrain: bool = False, gpu: bool = False) -> str:
    """Return the record's name for one kind of run, such as ``"full-gpu"``.

    Args:
        profile: ``"quick"`` or ``"full"``.
        retrain: Whether ``COURSE_RETRAIN=1`` was set (counts in the full profile
            only: the quick profile always trains).
        gpu: Whether the machine had a GPU.

    Returns:
        A kind such as ``"quick"``, ``"full-retrain"`` or ``"full-gpu"``.
    """
    if profile not in config.PROFILES:
        raise ValueError(
            f"Unknown profile {profile!r}. Fix: use one of {sorted(config.PROFILES)}."
        )
    kind = profile + ("-retrain" if retrain and profile == "full" else "")
    return kind + ("-gpu" if gpu else "")


def record_run(
    notebook: str,
    kind: str,
    seconds: float,
    machine: str,
    path: Path | None = None,
    date: str | None = None,
    source: str | None = None,
) -> dict:
    """Merge one successful run into the record and write it back atomically.

    Args:
        notebook: The notebook's stem, such as ``"05_gan_training"``.
        kind: A name made by ``run_kind``.
        seconds: Its measured wall time.
        machine: ``hardware.machine_summary()`` of the machine that ran it.
        path: The record file; defaults to ``data/run_times.json``.
        date: ISO date of the run; defaults to today.
        source: Where the figure came from, for entries not measured by the runner.

    Returns:
        The whole record as written.
    """
    if not re.match(r"^\d\d_[a-z0-9_]+$", notebook):
        raise ValueError(
            f"{notebook!r} is not a course notebook's stem. Fix: pass a name such "
            "as '05_gan_training', without the folder or '.ipynb'."
        )
    if not re.match(r"^(quick|full)(-retrain)?(-gpu)?$", kind):
        raise ValueError(f"Unknown run kind {kind!r}. Fix: make it with run_kind().")
    path = Path(path or runtimes.record_path())
    record = runtimes.load_record(path)
    entry = {
        "seconds": round(float(seconds), 1),
        "date": date or datetime.date.today().isoformat(),
        "machine": machine,
        "ok": True,
    }
    if source:
        entry["source"] = source
    record["notebooks"].setdefault(notebook, {})[kind] = entry
    store.write_json(path, record, sort_keys=True)
    return record


def kernel_environment(profile: str, environ=None) -> dict[str, str]:
    """Return the environment a notebook's kernel starts with.

    Args:
        profile: ``"quick"`` or ``"full"``, set as ``COURSE_PROFILE``.
        environ: The environment to start from; defaults to ``os.environ``.

    Returns:
        A copy of it with the profile set and, unless ``COURSE_VERBOSE_TF`` is
        set, TensorFlow's C++ logging quietened (``QUIET_KERNEL_ENV``). The quiet
        values override inherited ones: importing course_lib sets a laxer default.
    """
    env = dict(os.environ if environ is None else environ)
    env[config.PROFILE_ENV_VAR] = profile
    if not env.get(VERBOSE_ENV_VAR):
        env.update(QUIET_KERNEL_ENV)
    return env


def run_notebook(
    path: Path, profile: str, cell_timeout: int, write: bool = True
) -> tuple[bool, str]:
    """Execute one notebook, in place unless ``write`` is false.

    Args:
        path: The notebook file.
        profile: ``"quick"`` or ``"full"``, passed to the kernel as COURSE_PROFILE.
        cell_timeout: Seconds one cell may take.
        write: Write the executed notebook back (``False``: only time it).

    Returns:
        ``(ok, message)``; when writing, the notebook is written back either way,
        so a failure can be inspected.
    """
    # Development tools (the [dev] extra), needed only when notebooks are run.
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError  # The same [dev] extra.

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=cell_timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    ok, message = True, ""
    try:
        client.execute(env=kernel_environment(profile))
    except CellExecutionError as error:
        last_line = str(error).strip().splitlines()[-1]
        ok, message = False, ANSI_ESCAPE.sub("", last_line)[:200]
    except Exception as error:  # noqa: BLE001 - report any kernel failure.
        ok, message = False, f"{type(error).__name__}: {error}"[:200]
    if write:
        _redact_notebook(notebook, _path_replacements())
        nbformat.write(notebook, path)
    return ok, message


def _machine_summary() -> str:
    return hardware.machine_summary()


def record_times(
    rows: list[tuple[str, float, bool, str]], profile: str, record: Path
) -> int:
    """Merge the successful runs of this session into the run-time record.

    Args:
        rows: ``(notebook file name, seconds, ok, message)`` per notebook run.
        profile: The profile they ran in.
        record: The record file.

    Returns:
        How many runs were recorded (failed runs never are).
    """
    machine = _machine_summary()
    kind = run_kind(
        profile, retrain=config.retrain_requested(), gpu=machine.startswith("GPU")
    )
    recorded = 0
    for name, seconds, ok, _ in rows:
        if ok and NOTEBOOK_PATTERN.match(name):
            record_run(Path(name).stem, kind, seconds, machine, path=record)
            recorded += 1
    return recorded


def main(argv: list[str] | None = None) -> int:
    """Run the notebooks named on the command line (all of them by default).

    Args:
        argv: Command-line arguments, as for ``python -m course_lib.runner``.

    Returns:
        0 when every notebook ran, 1 otherwise.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--profile", default=None, help="quick or full")
    parser.add_argument("--cell-timeout", type=int, default=DEFAULT_CELL_TIMEOUT)
    parser.add_argument(
        "--time-only",
        action="store_true",
        help="record the run times but leave the notebooks' outputs as they are",
    )
    parser.add_argument(
        "--record",
        type=Path,
        default=None,
        help="the run-time record (default data/run_times.json)",
    )
    parser.add_argument(
        "--no-record", action="store_true", help="do not record the run times"
    )
    args = parser.parse_args(argv)
    try:
        profile = config.get_profile(args.profile)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    paths = args.notebooks or course_notebooks()
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        print(f"error: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    rows = []
    for index, path in enumerate(paths, start=1):
        print(f"[{index}/{len(paths)}] {path.name} ({profile.name}) ...", flush=True)
        start = time.perf_counter()
        ok, message = run_notebook(
            Path(path), profile.name, args.cell_timeout, write=not args.time_only
        )
        seconds = time.perf_counter() - start
        rows.append((path.name, seconds, ok, message))
        status = "ok" if ok else f"FAILED: {message}"
        print(f"      {seconds:7.1f} s  {status}", flush=True)
        if not args.no_record:
            # Recorded after each notebook, so an interrupted run keeps its times.
            record_times(rows[-1:], profile.name, args.record or runtimes.record_path())
    width = max(len(name) for name, *_ in rows)
    print(f"\n{'notebook':<{width}}  {'seconds':>8}  result")
    for name, seconds, ok, _ in rows:
        print(f"{name:<{width}}  {seconds:8.1f}  {'ok' if ok else 'failed'}")
    total = sum(seconds for _, seconds, _, _ in rows)
    print(f"{'total':<{width}}  {total:8.1f}")
    return 0 if all(ok for _, _, ok, _ in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
