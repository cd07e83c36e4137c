"""Grade a submitted notebook: run it in the quick profile and score its checks.

``make autograde NB=path/to/01_background.ipynb`` (or ``python -m
course_lib.autograde PATH``) runs the submission cell by cell in a fresh kernel,
with nbgrader's rules: each autograded test cell earns its points when it runs
without an error (``nbgrader.utils.determine_grade``). Before the run, every
test cell is restored from the course's own notebook of the same name, hidden
tests included, so that an edited check cannot change the grade.

- An unsolved or wrong exercise scores 0 and the run goes on. After it, the
  reference solution is run in its place, so that later cells that need its
  result still have it; the exercise's line says so.
- A kernel crash or a timeout is reported as such, with no score (exit 2).

The output is one line per exercise (points, then the check's feedback) and a
final line ``score: X / Y``.

Introduced in docs/teaching.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_lib import classroom, config
from course_lib.config import NOT_IMPLEMENTED

CELL_TIMEOUT_SECONDS = 600
FALLBACK_NOTE = "later cells use the reference solution"


@dataclass
class ExerciseGrade:
    """The grade of one autograded test cell.

    Args:
        grade_id: The test cell's nbgrader ``grade_id``.
        points: The points earned.
        max_points: The points available.
        feedback: The check's verdict, or why the exercise scored 0.
    """

    grade_id: str
    points: float
    max_points: float
    feedback: str


@dataclass
class GradeReport:
    """What grading one notebook found.

    Args:
        exercises: One grade per test cell, in notebook order.
        problem: Why the run could not be graded (a crash or a timeout), or
            ``None``.
    """

    exercises: list[ExerciseGrade] = field(default_factory=list)
    problem: str | None = None

    @property
    def score(self) -> float:
        """The points earned."""
        return sum(exercise.points for exercise in self.exercises)

    @property
    def max_score(self) -> float:
        """The points available."""
        return sum(exercise.max_points for exercise in self.exercises)

    def lines(self) -> list[str]:
        """Return the report: one line per exercise, then the score or problem."""
        lines = [
            f"{item.grade_id}: {item.points:g} / {item.max_points:g} points: "
            f"{item.feedback}"
            for item in self.exercises
        ]
        if self.problem:
            return [*lines, f"not graded: {self.problem}"]
        return [*lines, f"score: {self.score:g} / {self.max_score:g}"]


def _stdout(cell) -> str:
    return "".join(
        output.get("text", "")
        for output in cell.get("outputs", [])
        if output.output_type == "stream" and output.name == "stdout"
    )


def _error(cell):
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            return output
    return None


def _verdict_line(cell) -> str | None:
    for line in _stdout(cell).splitlines():
        if line.startswith(("PASS", "FAIL")):
            return line
    return None


def _feedback(test_cell, solution_errors: list[str], earned: bool) -> str:
    """Explain a test cell's grade from its outputs and its exercise's cells."""
    verdict = _verdict_line(test_cell)
    if earned:
        return verdict or "passed"
    error = _error(test_cell)
    stub = "NotImplementedError" in solution_errors or (
        error is not None and error.ename == "NotImplementedError"
    )
    if stub or (verdict and NOT_IMPLEMENTED in verdict):
        return "not implemented: the exercise still raises NotImplementedError"
    if solution_errors:
        return f"your answer cell raised {solution_errors[0]}"
    if verdict:
        return verdict
    if error is not None:
        return f"the check raised {error.ename}: {error.evalue}"
    return "the check wrote to stderr (nbgrader counts that as a failure)"


def restore_test_cells(submission, source) -> list[str]:
    """Put the source's test cells (hidden tests included) into the submission.

    Args:
        submission: The submitted notebook; changed in place.
        source: The course notebook with the same exercises.

    Returns:
        The grade ids of source test cells that the submission lacks.
    """
    tests = {
        cell.metadata.nbgrader["grade_id"]: cell
        for cell in classroom.graded_cells(source)
    }
    present = set()
    for index, cell in enumerate(submission.cells):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in tests:
            submission.cells[index] = nbformat.from_dict(dict(tests[grade_id]))
            present.add(grade_id)
    return [grade_id for grade_id in tests if grade_id not in present]


def _references(source) -> dict[str, str]:
    return {
        cell.metadata.nbgrader["grade_id"]: cell.source
        for cell in source.cells
        if cell.cell_type == "code" and classroom.cell_kind(cell) == "solution"
    }


def grade(
    submission_path: Path,
    source_path: Path | None = None,
    cell_timeout: float = CELL_TIMEOUT_SECONDS,
) -> GradeReport:
    """Run a submitted notebook in the quick profile and grade its test cells.

    Args:
        submission_path: The submitted ``NN_*.ipynb``.
        source_path: The course notebook holding the checks and references;
            by default ``notebooks/`` + the submission's file name.
        cell_timeout: Seconds one cell may run before the run is abandoned.

    Returns:
        The report: one grade per test cell, or the problem that stopped it.
    """
    # The autograder is a teaching tool: nbgrader and nbclient come with the
    # optional `teach` and `dev` extras, and importing them costs a second.
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from nbclient.util import run_sync
    from nbgrader.utils import determine_grade

    submission_path = Path(submission_path)
    if source_path is None:
        source_path = config.repo_root() / "notebooks" / submission_path.name
    if not Path(source_path).is_file():
        raise ValueError(
            f"no course notebook {source_path} to grade {submission_path.name} "
            "against: keep the submission's original name, or pass --source"
        )
    source = nbformat.read(source_path, as_version=4)
    notebook = nbformat.read(submission_path, as_version=4)
    report = GradeReport()
    for grade_id in restore_test_cells(notebook, source):
        cell = next(
            c
            for c in classroom.graded_cells(source)
            if c.metadata.nbgrader["grade_id"] == grade_id
        )
        report.exercises.append(
            ExerciseGrade(
                grade_id,
                0,
                cell.metadata.nbgrader["points"],
                "the check cell was deleted from the submission",
            )
        )
    references = _references(source)
    # Quiet TensorFlow's C++ log, as runner.QUIET_KERNEL_ENV does for the runner.
    env = {**os.environ, "COURSE_PROFILE": "quick", "TF_CPP_MIN_LOG_LEVEL": "3"}
    client = NotebookClient(
        notebook,
        timeout=cell_timeout,
        allow_errors=True,
        kernel_name="python3",
        resources={"metadata": {"path": str(Path(source_path).parent)}},
    )
    pending: list = []  # The current exercise's solution cells.
    solution_errors: list[str] = []
    index = 0
    with client.setup_kernel(env=env):
        try:
            for index, cell in enumerate(list(notebook.cells)):
                if cell.cell_type != "code":
                    continue
                cell = client.execute_cell(cell, index)
                kind = classroom.cell_kind(cell)
                if kind == "solution":
                    pending.append(cell)
                    if (error := _error(cell)) is not None:
                        solution_errors.append(error.ename)
                elif kind == "test":
                    earned, available = (
                        determine_grade(cell)[0],
                        cell.metadata.nbgrader["points"],
                    )
                    feedback = _feedback(cell, solution_errors, earned == available)
                    if earned != available:
                        if _run_references(client, pending, references):
                            feedback += f" ({FALLBACK_NOTE})"
                    report.exercises.append(
                        ExerciseGrade(
                            cell.metadata.nbgrader["grade_id"],
                            float(earned),
                            float(available),
                            feedback,
                        )
                    )
                    pending, solution_errors = [], []
        except DeadKernelError as error:
            report.problem = f"the kernel crashed in cell {index}: {error}"
        except CellTimeoutError:
            # A kernel that died mid-cell is noticed only when the cell times out.
            if client.km is not None and not run_sync(client.km.is_alive)():
                report.problem = f"the kernel crashed (died) in cell {index}"
            else:
                report.problem = f"cell {index} timed out after {cell_timeout:g} s"
    return report


def _run_references(client, solution_cells, references) -> bool:
    """Run the reference solution of each failed exercise cell; say if any ran."""
    ran = False
    for cell in solution_cells:
        reference = references.get(cell.metadata.nbgrader["grade_id"])
        if reference is None:
            continue
        stand_in = nbformat.v4.new_code_cell(reference)
        client.nb.cells.append(stand_in)
        try:
            client.execute_cell(stand_in, len(client.nb.cells) - 1)
        finally:
            client.nb.cells.pop()
        ran = True
    return ran


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m course_lib.autograde NOTEBOOK [--source PATH]``.

    Args:
        argv: The arguments; ``sys.argv[1:]`` by default.

    Returns:
        0 once graded, 2 when a crash or a timeout stopped the run.
    """
    parser = argparse.ArgumentParser(description="Grade a submitted notebook.")
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--source", type=Path, default=None)
    parser.add_argument("--cell-timeout", type=float, default=CELL_TIMEOUT_SECONDS)
    args = parser.parse_args(argv)
    report = grade(args.notebook, args.source, args.cell_timeout)
    print("\n".join(report.lines()))
    return 2 if report.problem else 0


if __name__ == "__main__":
    sys.exit(main())
