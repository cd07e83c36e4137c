"""Notebook run times: one measured record, and every statement rendered from it.

``python -m course_lib.runner`` records each notebook's wall time per run kind in
``data/run_times.json`` (``runner.record_run``); this module only reads it. Every
run-time statement in the notebooks' markdown, in notebook 00's course map and in
the README is wrapped in an invisible marker, so it can be found and rewritten
from the record::

    <!-- runtime 05 full -->~3.5 min<!-- /runtime -->

The marker names a notebook number (or ``max``: the longest notebook of that
kind) and a run kind: ``quick`` or ``full`` on a CPU, ``full-retrain`` (with
``COURSE_RETRAIN=1``), and the same with ``-gpu`` on a GPU. A kind with no
measured entry renders the record's ``estimates`` entry, labelled (written by
``python -m course_lib.colab_estimate``), else "not measured"; a measured entry wins.

Usage::

    python -m course_lib.runtimes --sync              # rewrite every statement
    python -m course_lib.runtimes --check             # list statements that disagree
    python -m course_lib.runtimes --insert-markers notebooks/05_gan_training.ipynb

Introduced in notebooks/00_start_here.ipynb.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from course_lib import config

NOT_MEASURED = "not measured"
RECORD_NAME = "run_times.json"
MARKER = re.compile(
    r"<!-- runtime (?P<notebook>\d\d|max) (?P<kind>[a-z]+(?:-[a-z]+)*) -->"
    r"(?P<value>.*?)<!-- /runtime -->"
)
# Every kind runner.run_kind can name (tests/test_runner.py checks it).
KINDS = ("quick", "full", "full-retrain", "quick-gpu", "full-gpu", "full-retrain-gpu")
_NOTEBOOK_NAME = re.compile(r"^(\d\d)_[a-z0-9_]+$")
# A run-time table row: "| <profile and machine> | <run time> |".
_TABLE_ROW = re.compile(r"^\|(?P<label>[^|]*)\|(?P<value>[^|]*)\|\s*$")
# A stated duration at the start of a table cell, such as "~7 min" or "under 30 s".
_STATED_DURATION = re.compile(
    r"^(?:not measured|a few minutes|(?:about |under |< |≤ |~\s*)?\d+(?:\.\d+)?"
    r"(?:\s*[–-]\s*\d+(?:\.\d+)?)?\s*(?:s|sec|seconds|min|minutes)\b)",
    re.IGNORECASE,
)


def record_path() -> Path:
    """Return the path of the course's run-time record, ``data/run_times.json``."""
    return config.repo_root() / "data" / RECORD_NAME


def human_duration(seconds: float) -> str:
    """Round a measured duration the way a reader wants it: ``"~40 s"``, ``"~12 min"``.

    Under a minute: to 5 s. Under 10 minutes: to half a minute. Above: to a minute.

    Args:
        seconds: A measured wall time.

    Returns:
        The rounded duration, with a leading ``~``.
    """
    if seconds < 0:
        raise ValueError(f"A duration cannot be negative (got {seconds}).")
    if seconds < 57.5:
        return f"~{max(5, int(5 * round(seconds / 5)))} s"
    minutes = seconds / 60
    if minutes < 9.75:
        halves = round(minutes * 2) / 2
        return f"~{halves:g} min"
    return f"~{round(minutes)} min"


def load_record(path: Path | None = None) -> dict:
    """Read the run-time record (an empty one when the file does not exist yet).

    Args:
        path: The record file; defaults to ``data/run_times.json``.

    Returns:
        ``{"notebooks": {stem: {kind: entry}}}``, each entry holding ``seconds``,
        ``date``, ``machine``, ``ok`` and, for entries not made by the runner,
        ``source``.
    """
    path = Path(path or record_path())
    if not path.is_file():
        return {"notebooks": {}}
    record = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(record.get("notebooks"), dict):
        raise ValueError(
            f"{path} has no 'notebooks' table. Fix: delete it, or restore it from git."
        )
    return record


def render(notebook: str, kind: str, record: dict) -> str:
    """Render one marked statement from the record.

    Args:
        notebook: A notebook number such as ``"04"``, or ``"max"`` for the longest
            notebook of that kind (given only when every recorded notebook has it).
        kind: One of ``KINDS``.
        record: As returned by ``load_record``.

    Returns:
        A rounded duration; the estimate's, with its label, such as ``"~2 min
        (T4 estimate, not measured)"``, where no measured entry exists; or
        ``"not measured"``.
    """
    estimates = record.get("estimates", {})
    chosen = []
    for stem, entries in record["notebooks"].items():
        if notebook == "max" or stem[:2] == notebook:
            measured = entries.get(kind)
            ok = measured and measured.get("ok", True)
            chosen.append(measured if ok else estimates.get(stem, {}).get(kind))
    # "max" needs every recorded notebook measured or estimated, or it would understate.
    if not chosen or not all(chosen):
        return NOT_MEASURED
    longest = max(chosen, key=lambda entry: entry["seconds"])
    labels = sorted({entry["label"] for entry in chosen if "label" in entry})
    duration = human_duration(longest["seconds"])
    return f"{duration} ({'; '.join(labels)})" if labels else duration


def find_markers(text: str) -> list[tuple[str, str, str]]:
    """Return ``(notebook, kind, stated value)`` for every marker in a text."""
    return [m.group("notebook", "kind", "value") for m in MARKER.finditer(text)]


def disagreements(text: str, record: dict) -> list[str]:
    """Return a line for each marked statement that the record does not give.

    Args:
        text: Markdown.
        record: As returned by ``load_record``.

    Returns:
        Lines such as ``"04 full: says '~7 min', record gives '~3.5 min'"``.
    """
    problems = []
    for notebook, kind, value in find_markers(text):
        if kind not in KINDS:
            problems.append(f"{notebook} {kind}: unknown run kind (use one of {KINDS})")
            continue
        expected = render(notebook, kind, record)
        if value != expected:
            problems.append(
                f"{notebook} {kind}: says {value!r}, record gives {expected!r}"
            )
    return problems


def sync_text(text: str, record: dict) -> str:
    """Rewrite every marked statement in a text from the record."""

    return MARKER.sub(
        lambda m: (
            f"<!-- runtime {m['notebook']} {m['kind']} -->"
            f"{render(m['notebook'], m['kind'], record)}<!-- /runtime -->"
        ),
        text,
    )


def _cell_source(cell: dict) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def _set_cell_source(cell: dict, text: str) -> None:
    if isinstance(cell["source"], str):
        cell["source"] = text
    else:
        cell["source"] = text.splitlines(keepends=True)


def _read_notebook(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _write_notebook(path: Path, notebook: dict) -> None:
    # nbformat's layout, in the file's own key order: only edited cells show in a diff.
    text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
    Path(path).write_text(text, encoding="utf-8")


def edit_markdown_cells(path: Path, edit) -> bool:
    """Apply ``edit(text) -> text`` to each markdown cell of a notebook, via json.

    Cell ids, code cells and outputs are left untouched; the file is written only
    when some cell changed.

    Args:
        path: The notebook.
        edit: A function from a cell's markdown to its new markdown.

    Returns:
        Whether the file changed.
    """
    notebook = _read_notebook(path)
    changed = False
    for cell in notebook["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        old = _cell_source(cell)
        new = edit(old)
        if new != old:
            _set_cell_source(cell, new)
            changed = True
    if changed:
        _write_notebook(path, notebook)
    return changed


def marked_files(root: Path | None = None) -> list[Path]:
    """Return the files with synced run-time statements: notebooks, README, docs."""
    root = Path(root or config.repo_root())
    notebooks = sorted(
        p for p in (root / "notebooks").glob("*.ipynb") if _NOTEBOOK_NAME.match(p.stem)
    )
    return [*notebooks, root / "README.md", *sorted((root / "docs").glob("*.md"))]


def file_markdown(path: Path) -> str:
    """Return a file's markdown: a notebook's markdown cells, or the file's text."""
    path = Path(path)
    if path.suffix == ".ipynb":
        cells = _read_notebook(path)["cells"]
        return "\n".join(_cell_source(c) for c in cells if c["cell_type"] == "markdown")
    return path.read_text(encoding="utf-8")


def sync(root: Path | None = None, record: dict | None = None) -> list[Path]:
    """Rewrite every marked statement in the notebooks and the README from the record.

    Args:
        root: The course folder; defaults to the repository.
        record: Defaults to ``load_record()``.

    Returns:
        The files that changed.
    """
    record = record if record is not None else load_record()
    changed = []
    for path in marked_files(root):
        if path.suffix == ".ipynb":
            if edit_markdown_cells(path, lambda text: sync_text(text, record)):
                changed.append(path)
        elif path.is_file():
            old = path.read_text(encoding="utf-8")
            new = sync_text(old, record)
            if new != old:
                path.write_text(new, encoding="utf-8")
                changed.append(path)
    return changed


def _row_kind(label: str) -> str | None:
    words = label.strip().lower()
    profile = next((p for p in ("quick", "full") if words.startswith(p)), None)
    if profile is None:
        return None
    # The names runner.run_kind gives (the quick profile always trains).
    retrain = "-retrain" if "retrain" in words and profile == "full" else ""
    return profile + retrain + ("-gpu" if "gpu" in words else "")


def _marked_value(number: str, kind: str, value: str) -> str:
    value = value.strip()
    match = _STATED_DURATION.match(value)
    rest = value[match.end() :].strip() if match else value
    # A parenthesis that only says whether it was measured is the record's job now.
    rest = re.sub(r"\((?:not )?measured[^)]*\)", "", rest).strip()
    if kind.endswith("-gpu") and match is None:
        rest = ""
    marker = f"<!-- runtime {number} {kind} -->{NOT_MEASURED}<!-- /runtime -->"
    return f"{marker} {rest}".rstrip()


def insert_table_markers(markdown: str, number: str) -> str:
    """Mark the run times in a notebook's "| profile and machine | run time |" table.

    Each row whose label starts with ``quick`` or ``full`` gets a marker of the
    kind its label names (``COURSE_RETRAIN`` and ``GPU`` are read from the label);
    a leading stated duration is replaced, a note after it is kept. Rows that are
    already marked are left alone. Run ``sync`` afterwards to fill in the values.

    Args:
        markdown: A markdown cell.
        number: The notebook's number, such as ``"04"``.

    Returns:
        The markdown with markers.
    """
    lines = markdown.split("\n")
    in_table = False
    for index, line in enumerate(lines):
        if re.match(r"^\|\s*profile and machine\s*\|\s*run time\s*\|", line):
            in_table = True
            continue
        if in_table and not line.startswith("|"):
            in_table = False
        row = _TABLE_ROW.match(line) if in_table else None
        if row is None or "<!-- runtime" in line:
            continue
        kind = _row_kind(row["label"])
        if kind is None:
            continue
        value = _marked_value(number, kind, row["value"])
        lines[index] = f"|{row['label']}| {value} |"
    return "\n".join(lines)


def insert_markers(path: Path) -> bool:
    """Insert run-time markers into one notebook's run-time table, via json.

    Args:
        path: A course notebook such as ``notebooks/05_gan_training.ipynb``.

    Returns:
        Whether the file changed.
    """
    path = Path(path)
    match = _NOTEBOOK_NAME.match(path.stem)
    if match is None:
        raise ValueError(f"{path.name} is not a numbered course notebook.")
    return edit_markdown_cells(
        path, lambda text: insert_table_markers(text, match.group(1))
    )


def main(argv: list[str] | None = None) -> int:
    """Sync, check or mark the course's run-time statements.

    Args:
        argv: Command-line arguments, as for ``python -m course_lib.runtimes``.

    Returns:
        0 on success; 1 when ``--check`` finds a disagreement.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--sync", action="store_true", help="rewrite every statement")
    action.add_argument("--check", action="store_true", help="list disagreements")
    action.add_argument(
        "--insert-markers",
        nargs="*",
        type=Path,
        metavar="NOTEBOOK",
        help="mark the run-time tables of these notebooks (default: all), then sync",
    )
    parser.add_argument("--record", type=Path, default=None, help="the record file")
    args = parser.parse_args(argv)
    record = load_record(args.record)
    if args.insert_markers is not None:
        paths = args.insert_markers or [
            p for p in marked_files() if p.suffix == ".ipynb"
        ]
        for path in paths:
            if insert_markers(path):
                print(f"marked {path}")
    if args.check:
        problems = [
            f"{path.name}: {line}"
            for path in marked_files()
            if path.is_file()
            for line in disagreements(file_markdown(path), record)
        ]
        print("\n".join(problems) or "every run-time statement agrees with the record")
        return 1 if problems else 0
    for path in sync(record=record):
        print(f"synced {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
