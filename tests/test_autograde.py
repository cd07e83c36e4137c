"""Tests for course_lib.autograde: points per exercise, the reference fallback, crashes.

The expected scores are written out by hand. Grading runs only the fastest
notebooks (01 and 02, about 15 s each); the crash and timeout cases use tiny
notebooks that never import TensorFlow.
"""

import re

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


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    classroom.write_student_release(out)
    return out


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
    # The other cells take milliseconds; a short limit keeps the sleep's wait short.
    status = autograde.main([str(path), "--source", str(path), "--cell-timeout", "3"])
    out = capsys.readouterr().out
    assert status == 2
    assert words in out and "score:" not in out
