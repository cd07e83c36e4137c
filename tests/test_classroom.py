"""Tests for the classroom release: student notebooks, nbgrader, the autograder.

The solution lines are found here with a plain reading of the markers, not with
nbgrader, and the expected scores are written out by hand. Grading runs only the
fastest notebooks (01 and 02, about 15 s each); the crash and timeout cases use
tiny notebooks that never import TensorFlow.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib import autograde, classroom

nbgrader = pytest.importorskip(
    "nbgrader", reason="nbgrader is the `teach` extra: pip install -e '.[dev,teach]'"
)

NOTEBOOKS = classroom.course_notebooks()
BY_NAME = {path.name: path for path in NOTEBOOKS}
GRADED = ["01_background.ipynb", "02_gan_loss_derivation.ipynb"]
# One deliberately wrong answer for some exercises; the others stay right.
WRONG = {
    "01_background.ipynb": {
        "ex1_answer": ("answer_1 = 64 * 64", "3 colour values"),
        "ex3_answer": (
            'answer_3 = {"deep_belief_network": 2006, "alexnet": 2013, '
            '"elman_network": 1990}',
            "alexnet",
        ),
    },
    "02_gan_loss_derivation.ipynb": {
        "ex1_answer": ("answer_1 = 0.5", "densities are equal"),
        "ex3_answer": ("return np.exp(-np.logaddexp(0.0, logits))", "wrong sign"),
    },
}


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


def _wrong_notebook(path, answers, target):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            pattern = re.compile(
                r"^( *)### BEGIN SOLUTION\n.*?### END SOLUTION$", re.S | re.M
            )
            assert pattern.search(cell.source), grade_id
            wrong_code = answers[grade_id][0]
            cell.source = pattern.sub(
                lambda m, code=wrong_code: m.group(1) + code, cell.source
            )
    nbformat.write(notebook, target)
    return target


@pytest.mark.parametrize("name", GRADED)
def test_released_solution_and_wrong_versions_score_as_expected(
    name, student_dir, tmp_path
):
    source = BY_NAME[name]
    notebook = nbformat.read(source, as_version=4)
    points = {
        c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader["points"]
        for c in classroom.graded_cells(notebook)
    }
    total = sum(points.values())

    released = autograde.grade(student_dir / name, source)
    assert released.problem is None
    assert released.score == 0 and released.max_score == total
    assert all("not implemented" in e.feedback for e in released.exercises)
    assert released.lines()[-1] == f"score: 0 / {total:g}"

    solved = autograde.grade(source, source)
    assert solved.score == total, solved.lines()
    assert solved.lines()[-1] == f"score: {total:g} / {total:g}"

    wrong = autograde.grade(
        _wrong_notebook(source, WRONG[name], tmp_path / name), source
    )
    lost = {answer.replace("_answer", "_check") for answer in WRONG[name]}
    assert wrong.score == total - sum(points[g] for g in lost), wrong.lines()
    for exercise in wrong.exercises:
        assert (exercise.points == 0) == (exercise.grade_id in lost), exercise
    for answer, (_, words) in WRONG[name].items():
        line = next(
            e
            for e in wrong.exercises
            if e.grade_id == answer.replace("_answer", "_check")
        )
        assert words in line.feedback, line


def _tiny_notebook(path, cells):
    notebook = nbformat.v4.new_notebook()
    meta = classroom.nbgrader_metadata
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "### BEGIN SOLUTION\nanswer = 2\n### END SOLUTION",
            metadata={"nbgrader": meta("solution", "ex1_answer")},
        ),
        nbformat.v4.new_code_cell(
            "assert abs(answer - 2) == 0",
            metadata={"nbgrader": meta("test", "ex1_check", 1)},
        ),
        *[nbformat.v4.new_code_cell(source) for source in cells],
        nbformat.v4.new_code_cell(
            "assert answer == 2", metadata={"nbgrader": meta("test", "ex2_check", 2)}
        ),
    ]
    nbformat.write(notebook, path)
    return path


def test_a_later_cell_gets_the_reference_and_the_grade_says_so(tmp_path):
    source = _tiny_notebook(tmp_path / "source.ipynb", ["answer = answer * 1"])
    submission = _tiny_notebook(tmp_path / "99_tiny.ipynb", ["answer = answer * 1"])
    notebook = nbformat.read(submission, as_version=4)
    notebook.cells[0].source = "answer = 3"
    nbformat.write(notebook, submission)
    report = autograde.grade(submission, source)
    assert [e.points for e in report.exercises] == [0, 2]
    assert autograde.FALLBACK_NOTE in report.exercises[0].feedback
    assert report.lines()[-1] == "score: 2 / 3"


@pytest.mark.parametrize(
    ("cell", "words"),
    [
        ("import os\nos._exit(1)", "kernel crashed"),
        ("import time\ntime.sleep(60)", "timed out"),
    ],
)
def test_a_crash_or_timeout_is_reported_never_scored(tmp_path, cell, words, capsys):
    path = _tiny_notebook(tmp_path / "99_tiny.ipynb", [cell])
    status = autograde.main([str(path), "--source", str(path), "--cell-timeout", "10"])
    out = capsys.readouterr().out
    assert status == 2
    assert words in out and "score:" not in out
