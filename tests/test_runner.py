"""Tests for course_lib.runner, the headless notebook runner, and course_lib.train."""

import nbformat
import pytest

from course_lib import runner, train


def _notebook(path, *sources):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, path)
    return path


def test_course_notebooks_are_numbered_and_skip_scratch(tmp_path):
    for name in ("01_b.ipynb", "00_a.ipynb", "_scratch.ipynb", "notes.ipynb"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in runner.course_notebooks(tmp_path)] == [
        "00_a.ipynb",
        "01_b.ipynb",
    ]


def test_redact_paths_replaces_longest_prefix_first():
    text = "/opt/env/lib/x.py and /opt/env/lib/course/y"
    out = runner.redact_paths(text, {"/opt/env/lib/course": "<c>", "/opt/env": "<e>"})
    assert out == "<e>/lib/x.py and <c>/y"


def test_runner_executes_in_place_and_reports(tmp_path, capsys):
    good = _notebook(
        tmp_path / "00_good.ipynb",
        "import os, sys\nprint(os.environ['COURSE_PROFILE'])",
        "print(sys.prefix)",
    )
    bad = _notebook(tmp_path / "01_bad.ipynb", "raise RuntimeError('boom')")
    status = runner.main(["--profile", "quick", str(good), str(bad)])
    assert status == 1
    executed = nbformat.read(good, as_version=4)
    counts = [cell.execution_count for cell in executed.cells]
    assert counts == [1, 2]
    assert executed.cells[0].outputs[0]["text"].strip() == "quick"
    # The interpreter's path is machine-specific, so it is redacted.
    assert executed.cells[1].outputs[0]["text"].strip() == "<python-env>"
    report = capsys.readouterr().out
    assert "00_good.ipynb" in report and "failed" in report and "total" in report


def test_runner_rejects_unknown_profile(capsys):
    assert runner.main(["--profile", "fastest"]) == 2
    assert "Valid profiles" in capsys.readouterr().err


def test_train_command_rejects_unknown_profile(capsys):
    assert train.main(["gan", "--profile", "huge"]) == 2
    assert "Valid profiles" in capsys.readouterr().err


def test_train_command_rejects_unknown_model():
    with pytest.raises(SystemExit):
        train.main(["diffusion"])
