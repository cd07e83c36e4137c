"""Tests for course_lib.classroom: nbgrader markup, the student release, nbgrader.

The solution lines are found here with a plain reading of the markers, not with
nbgrader. The autograder has its own file, tests/test_autograde.py.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib import classroom

nbgrader = pytest.importorskip(
    "nbgrader", reason="nbgrader is the `teach` extra: pip install -e '.[dev,teach]'"
)

NOTEBOOKS = classroom.course_notebooks()
BY_NAME = {path.name: path for path in NOTEBOOKS}


def _solution_lines(notebook):
    lines = []
    for cell in notebook.cells:
        lines += classroom.marked_lines(
            cell.source, classroom.BEGIN_SOLUTION, classroom.END_SOLUTION
        )
    return lines


def _plain_lines(notebook):
    """Lines outside every solution region (not secret, may appear anywhere)."""
    lines = set()
    for cell in notebook.cells:
        inside = False
        for line in cell.source.splitlines():
            if line.strip() in (classroom.BEGIN_SOLUTION, classroom.END_SOLUTION):
                inside = line.strip() == classroom.BEGIN_SOLUTION
            elif not inside:
                lines.add(line.strip())
    return lines


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    classroom.write_student_release(out)
    return out


def test_every_notebook_has_graded_exercises():
    assert NOTEBOOKS
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        tests = classroom.graded_cells(notebook)
        assert tests, f"{path.name}: no nbgrader test cell"
        ids = [
            c.metadata.nbgrader["grade_id"]
            for c in notebook.cells
            if "nbgrader" in c.metadata
        ]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate grade ids"
        for cell in tests:
            assert cell.metadata.nbgrader["points"] > 0
            assert "checks.check_" in cell.source, f"{path.name}: test without a check"
        solutions = [c for c in notebook.cells if classroom.cell_kind(c) == "solution"]
        code = [c for c in solutions if c.cell_type == "code"]
        assert all(classroom.BEGIN_SOLUTION in c.source for c in code), path.name


def test_student_notebooks_hold_no_solution_lines(student_dir):
    assert sorted(p.name for p in student_dir.glob("*.ipynb")) == sorted(BY_NAME)
    readme = (student_dir / "README.md").read_text()
    assert "## Get started" in readme and "## Submit" in readme
    for path in NOTEBOOKS:
        source = nbformat.read(path, as_version=4)
        secret = set(_solution_lines(source)) - _plain_lines(source)
        assert secret, f"{path.name}: no solution lines found"
        student = nbformat.read(student_dir / path.name, as_version=4)
        text = {line.strip() for c in student.cells for line in c.source.splitlines()}
        leaked = secret & text
        assert not leaked, f"{path.name} leaks solution lines: {sorted(leaked)[:3]}"
        assert "raise NotImplementedError()" in text
        assert not any(c.get("outputs") for c in student.cells if c.cell_type == "code")
        assert not any("HIDDEN TESTS" in c.source for c in student.cells)
        badge = re.search(
            r"colab\.research\.google\.com/github/\S+?\.ipynb", student.cells[0].source
        )
        assert badge and badge.group(0).endswith(f"/blob/student/{path.name}")


def test_nbgrader_generate_assignment_takes_a_notebook_unchanged(tmp_path):
    source = tmp_path / "source" / "ps1"
    source.mkdir(parents=True)
    shutil.copy(BY_NAME["01_background.ipynb"], source)
    (tmp_path / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.root = {str(tmp_path)!r}\n"
        "c.CourseDirectory.course_id = 'course'\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", "ps1", "--create"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        # nbgrader runs the `alembic` script that sits next to this interpreter.
        env={
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    released = nbformat.read(tmp_path / "release" / "ps1" / "01_background.ipynb", 4)
    text = "\n".join(cell.source for cell in released.cells)
    assert "raise NotImplementedError()" in text
    assert "64 * 64 * 3" not in text and "BEGIN HIDDEN TESTS" not in text
