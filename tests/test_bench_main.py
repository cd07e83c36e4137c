"""Tests for course_lib.bench.__main__: the command line of ``python -m``.

The suite itself is not run here (it takes minutes); its parts are tested in the
other tests/test_bench_*.py files.
"""

import subprocess
import sys

import pytest

from course_lib.bench import __main__ as command


def test_help_names_the_command_and_its_options(capsys):
    with pytest.raises(SystemExit) as stop:
        command.main(["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert "python -m course_lib.bench" in text
    assert "--quick" in text and "--json" in text


def test_module_runs_as_a_command():
    finished = subprocess.run(
        [sys.executable, "-m", "course_lib.bench", "--help"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    assert "--quick" in finished.stdout
