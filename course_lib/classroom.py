"""The classroom release: nbgrader cell metadata and the student notebooks.

The course notebooks are nbgrader assignment sources as they stand: each
exercise's answer is an nbgrader solution cell whose reference solution sits
between ``### BEGIN SOLUTION`` and ``### END SOLUTION``, and each auto-check is
an autograded test cell with points (hidden tests between ``### BEGIN HIDDEN
TESTS`` and ``### END HIDDEN TESTS``). ``make student`` turns them into the
student release with nbgrader's own preprocessors: solutions become
``raise NotImplementedError`` stubs, hidden tests go, outputs are cleared, and
the *Open in Colab* badge opens the student version.

Run ``python -m course_lib.classroom --out build/student``. nbgrader comes with
the optional ``teach`` extra: ``pip install -e '.[teach]'``.

Introduced in docs/teaching.md.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

from course_lib import config

NBGRADER_SCHEMA_VERSION = 3
BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
# The branch a teacher publishes build/student/ to, so that Colab can open it.
STUDENT_BRANCH = "student"
NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"

STUDENT_README = """\
# {title}: student notebooks

These are the course's notebooks with the exercises left for you: each exercise
cell says `raise NotImplementedError`. Replace that line with your answer, then
run the check cell under it: it prints `PASS`, or `FAIL` with what went wrong.

## Get started

- **Colab:** open a notebook with its *Open in Colab* badge. The first cell
  installs the course's library; choose *Runtime -> Change runtime type -> GPU*
  for notebooks 05 onwards.
- **Your machine:** clone {url}, then run `make lab` (Python 3.11) and open this
  folder's notebooks from JupyterLab.

Set `COURSE_PROFILE=quick` for a fast run (small sizes, same code); the graded
run always uses the quick profile.

## The notebooks and their points

| notebook | exercises | points |
|---|---|---|
{rows}

## Submit

1. *Kernel -> Restart and run all*: every check cell should print its verdict,
   and an exercise you skipped costs only its own points.
2. Save, and hand in the `.ipynb` file under its original name (for example
   `{example}`) the way your teacher asks.
3. To see your grade before you submit: `make autograde NB=path/to/{example}`
   prints one line per exercise and then `score: X / Y`.
"""


def course_notebooks(root: Path | None = None) -> list[Path]:
    """Return the course notebooks, ``notebooks/NN_*.ipynb``, in order.

    Args:
        root: The repository root; the course's own by default.

    Returns:
        The sorted paths; scratch notebooks (``_`` prefix) are left out.
    """
    root = config.repo_root() if root is None else Path(root)
    return sorted((root / "notebooks").glob(NOTEBOOK_PATTERN))


def nbgrader_metadata(kind: str, grade_id: str, points: float = 0) -> dict:
    """Return the nbgrader cell metadata for one kind of cell.

    Args:
        kind: ``"solution"`` (an autograded answer: a code cell holding the
            reference between the solution markers), ``"answer_text"`` (a
            markdown solution, a manually graded answer worth 0 points, replaced
            by "YOUR ANSWER HERE" for students) or
            ``"test"`` (an autograded test cell, read-only, with points).
        grade_id: The cell's unique name in its notebook, such as ``"ex1_check"``.
        points: The points of a test cell.

    Returns:
        The dictionary to store under ``cell.metadata["nbgrader"]``.
    """
    if kind not in ("solution", "answer_text", "test"):
        raise ValueError(
            f"unknown nbgrader cell kind {kind!r}: use 'solution', 'answer_text' "
            "or 'test'"
        )
    if kind == "test" and points <= 0:
        raise ValueError(f"test cell {grade_id!r} needs points > 0, e.g. points=1")
    test = kind == "test"
    # nbgrader requires a markdown solution to be a (manually) graded answer;
    # the course's explanations are worth 0 points.
    graded = kind != "solution"
    metadata = {
        "grade": graded,
        "grade_id": grade_id,
        "locked": test,
        "schema_version": NBGRADER_SCHEMA_VERSION,
        "solution": not test,
        "task": False,
    }
    if graded:
        metadata["points"] = points
    return metadata


def cell_kind(cell) -> str | None:
    """Return ``"test"``, ``"solution"`` or ``None`` for a notebook cell.

    Args:
        cell: An nbformat cell.

    Returns:
        What nbgrader's metadata makes of the cell.
    """
    nbgrader = cell.get("metadata", {}).get("nbgrader", {})
    if nbgrader.get("grade") and not nbgrader.get("solution"):
        return "test"
    if nbgrader.get("solution"):
        return "solution"
    return None


def graded_cells(notebook) -> list:
    """Return the autograded test cells of a notebook, in order.

    Args:
        notebook: An nbformat notebook.

    Returns:
        The test cells; ``cell.metadata.nbgrader`` holds ``grade_id`` and
        ``points``.
    """
    return [cell for cell in notebook.cells if cell_kind(cell) == "test"]


def total_points(notebook) -> float:
    """Return the points of all autograded test cells of a notebook."""
    return sum(cell.metadata.nbgrader["points"] for cell in graded_cells(notebook))


def marked_lines(source: str, begin: str, end: str) -> list[str]:
    """Return the stripped, non-empty lines between ``begin`` and ``end`` markers.

    Args:
        source: A cell's source.
        begin: The opening marker, such as ``"### BEGIN SOLUTION"``.
        end: The closing marker.

    Returns:
        The lines inside every marked region, markers excluded.
    """
    inside, lines = False, []
    for line in source.splitlines():
        if line.strip() == begin:
            inside = True
        elif line.strip() == end:
            inside = False
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


def colab_url(student_name: str, repo_slug: str = config.REPO_SLUG) -> str:
    """Return the *Open in Colab* address of a student notebook.

    Args:
        student_name: The file name, such as ``"01_background.ipynb"``.
        repo_slug: ``owner/name`` of the GitHub repository whose ``student``
            branch holds build/student/.

    Returns:
        The Colab URL.
    """
    return (
        f"https://colab.research.google.com/github/{repo_slug}/blob/"
        f"{STUDENT_BRANCH}/{student_name}"
    )


def student_notebook(notebook, name: str, repo_slug: str = config.REPO_SLUG):
    """Return the student version of a course notebook, made by nbgrader.

    Args:
        notebook: The course notebook (an nbformat notebook; not changed).
        name: Its file name, such as ``"01_background.ipynb"``.
        repo_slug: The GitHub repository the Colab badge points at.

    Returns:
        A new notebook: solutions replaced by nbgrader's stubs, hidden tests
        removed, outputs and execution counts cleared, the badge retargeted.
    """
    # nbgrader is the optional `teach` extra; only the release tools need it.
    from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions

    student = copy.deepcopy(notebook)
    resources: dict = {}
    for preprocessor in (ClearSolutions(), ClearHiddenTests(), ClearOutput()):
        student, resources = preprocessor.preprocess(student, resources)
    badge = re.compile(r"https://colab\.research\.google\.com/github/[^)\s]+\.ipynb")
    for cell in student.cells:
        cell.metadata.pop("execution", None)  # Timestamps of the teacher's run.
        if cell.cell_type == "markdown" and "colab-badge" in cell.source:
            cell.source = badge.sub(colab_url(name, repo_slug), cell.source)
    return student


def write_student_release(
    out_dir: Path, root: Path | None = None, repo_slug: str = config.REPO_SLUG
) -> list[Path]:
    """Write ``NN_*.ipynb`` student notebooks and a README to ``out_dir``.

    Args:
        out_dir: The folder to write, such as ``build/student``.
        root: The repository root; the course's own by default.
        repo_slug: The GitHub repository the Colab badges point at.

    Returns:
        The student notebooks written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, rows = [], []
    for path in course_notebooks(root):
        notebook = nbformat.read(path, as_version=4)
        student = student_notebook(notebook, path.name, repo_slug)
        target = out_dir / path.name
        nbformat.write(student, target)
        written.append(target)
        points = total_points(notebook)
        rows.append(f"| {path.stem} | {len(graded_cells(notebook))} | {points:g} |")
    if not written:
        raise ValueError(f"no notebooks/{NOTEBOOK_PATTERN} under {root}: check root")
    readme = STUDENT_README.format(
        title="GANs and VAEs, derived, trained and timed",
        url=config.REPO_URL,
        rows="\n".join(rows),
        example=written[min(1, len(written) - 1)].name,
    )
    (out_dir / "README.md").write_text(readme)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m course_lib.classroom [--out DIR] [--repo SLUG]``.

    Args:
        argv: The arguments; ``sys.argv[1:]`` by default.

    Returns:
        The exit status.
    """
    parser = argparse.ArgumentParser(description="Write the student notebooks.")
    parser.add_argument("--out", default="build/student", type=Path)
    parser.add_argument("--repo", default=config.REPO_SLUG, help="owner/name")
    args = parser.parse_args(argv)
    written = write_student_release(args.out, repo_slug=args.repo)
    for path in written:
        print(f"wrote {path}")
    print(f"wrote {args.out / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
