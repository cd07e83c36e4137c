"""Run every course notebook headlessly, in order and in place.

This is how the committed outputs are refreshed (``make course PROFILE=full``).
Each notebook is executed top to bottom in a fresh kernel; progress is printed
per notebook, and a table of notebook, seconds and ok/failed ends the run.

Usage::

    python -m course_lib.runner --profile quick            # every notebook
    python -m course_lib.runner --profile full notebooks/02_gan_loss_derivation.ipynb

Introduced in notebooks/00_start_here.ipynb.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

from course_lib import config

NOTEBOOK_PATTERN = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")
DEFAULT_CELL_TIMEOUT = 1800


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


def run_notebook(path: Path, profile: str, cell_timeout: int) -> tuple[bool, str]:
    """Execute one notebook in place.

    Args:
        path: The notebook file.
        profile: ``"quick"`` or ``"full"``, passed to the kernel as COURSE_PROFILE.
        cell_timeout: Seconds one cell may take.

    Returns:
        ``(ok, message)``; the notebook is written back either way, so a failure
        can be inspected.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=cell_timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    ok, message = True, ""
    try:
        client.execute()
    except CellExecutionError as error:
        ok, message = False, str(error).strip().splitlines()[-1][:200]
    except Exception as error:  # noqa: BLE001 - report any kernel failure.
        ok, message = False, f"{type(error).__name__}: {error}"[:200]
    _redact_notebook(notebook, _path_replacements())
    nbformat.write(notebook, path)
    return ok, message


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
    args = parser.parse_args(argv)
    try:
        profile = config.get_profile(args.profile)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    os.environ[config.PROFILE_ENV_VAR] = profile.name
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    paths = args.notebooks or course_notebooks()
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        print(f"error: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    rows = []
    for index, path in enumerate(paths, start=1):
        print(f"[{index}/{len(paths)}] {path.name} ({profile.name}) ...", flush=True)
        start = time.perf_counter()
        ok, message = run_notebook(Path(path), profile.name, args.cell_timeout)
        seconds = time.perf_counter() - start
        rows.append((path.name, seconds, ok, message))
        status = "ok" if ok else f"FAILED: {message}"
        print(f"      {seconds:7.1f} s  {status}", flush=True)
    width = max(len(name) for name, *_ in rows)
    print(f"\n{'notebook':<{width}}  {'seconds':>8}  result")
    for name, seconds, ok, _ in rows:
        print(f"{name:<{width}}  {seconds:8.1f}  {'ok' if ok else 'failed'}")
    total = sum(seconds for _, seconds, _, _ in rows)
    print(f"{'total':<{width}}  {total:8.1f}")
    return 0 if all(ok for _, _, ok, _ in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
