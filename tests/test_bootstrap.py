"""Tests for course_lib.bootstrap: the Colab bootstrap cell, run as Colab would.

The cell's text is run in a fresh Python with a stand-in ``google.colab`` module,
a ``file://`` clone of this repository instead of GitHub, a temporary folder
instead of ``/content`` and a stand-in ``pip`` that records its command line.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tomllib

from course_lib import bootstrap, config

ROOT = Path(__file__).resolve().parents[1]
NEVER_INSTALLED = ("tensorflow", "keras", "jupyterlab", "ipywidgets")
# Runs the cell the way re-executing it in one kernel would: N times, one process.
# After the first run the clone address is made unreachable: a second clone fails.
SCRIPT = textwrap.dedent(
    """
    import json, os, sys, types
    cell_path, runs, on_colab = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "colab"
    if on_colab:
        sys.modules["google.colab"] = types.ModuleType("google.colab")
    cell = compile(open(cell_path).read(), "bootstrap-cell", "exec")
    for run in range(runs):
        exec(cell, {"__name__": "__main__"})
        with open(os.environ["FAKE_PIP_LOG"], "a") as log:
            log.write(json.dumps([f"--- run {run + 1} done ---"]) + "\\n")
        os.environ["COURSE_REPO_URL"] = "file:///nowhere/no-such-repository"
    if on_colab:
        import course_lib
        print("course_lib from", course_lib.__file__)
    print("cwd", os.getcwd())
    """
)
# What the script itself prints, besides the cell.
SCRIPT_SAYS = ("cwd ", "course_lib from ")
# The stand-in pip: `python -m pip ...` finds it first on PYTHONPATH.
FAKE_PIP = textwrap.dedent(
    """
    import json, os, sys
    with open(os.environ["FAKE_PIP_LOG"], "a") as log:
        log.write(json.dumps(sys.argv[1:]) + "\\n")
    """
)


def _git_root() -> Path:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(
            f"the bootstrap test clones this checkout, which needs git: {error}"
        )
    return Path(result.stdout.strip())


def _run_cell(folder: Path, runs: int, env: dict[str, str], where: str = "colab"):
    """Run the generated cell `runs` times in a fresh Python ("colab" or not).

    Returns:
        The script's stdout and the pip calls, with a marker after each run.
    """
    folder.mkdir(parents=True, exist_ok=True)
    cell = folder / "cell.py"
    cell.write_text(bootstrap.cell_source())
    (folder / "fake_pip" / "pip").mkdir(parents=True, exist_ok=True)
    (folder / "fake_pip" / "pip" / "__init__.py").write_text("")
    (folder / "fake_pip" / "pip" / "__main__.py").write_text(FAKE_PIP)
    log = folder / "pip.log"
    log.write_text("")
    paths = [str(folder / "fake_pip"), *env.pop("EXTRA_PATH", "").split(os.pathsep)]
    full_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in paths if p),
        "FAKE_PIP_LOG": str(log),
        # Skips course_lib's TensorFlow warm-up on import: the test needs only the path.
        "COURSE_VERBOSE_TF": "1",
        **env,
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(cell), str(runs), where],
        cwd=folder,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return result.stdout, calls


@pytest.fixture(scope="module")
def colab_run(tmp_path_factory):
    """The cell run twice on a fresh 'Colab': (stdout, pip calls, course folder)."""
    source = _git_root()
    folder = tmp_path_factory.mktemp("colab")
    course = folder / "content" / "gans-and-vaes"
    stdout, calls = _run_cell(
        folder,
        runs=2,
        env={"COURSE_REPO_URL": source.as_uri(), "COURSE_ROOT": str(course)},
    )
    return stdout, calls, course


def test_first_run_installs_the_clone_without_dependencies_plus_mlxtend(colab_run):
    _, calls, course = colab_run
    first_run = calls[: calls.index(["--- run 1 done ---"])]
    assert len(first_run) == 1, f"one pip command expected, got {first_run}"
    argv = first_run[0]
    assert argv[0] == "install" and "--no-deps" in argv
    assert argv[argv.index("-e") + 1] == str(course)
    packages = [a for a in argv[1:] if not a.startswith("-") and a != str(course)]
    assert packages == ["mlxtend>=0.23"], packages
    for name in NEVER_INSTALLED:
        assert not any(name in a.lower() for a in argv), f"{name} in {argv}"


def test_course_lib_imports_from_the_shallow_clone(colab_run):
    stdout, _, course = colab_run
    assert f"course_lib from {course / 'course_lib' / '__init__.py'}" in stdout
    assert f"cwd {course / 'notebooks'}" in stdout
    depth = subprocess.run(
        ["git", "rev-list", "--count", "HEAD"],
        cwd=course,
        capture_output=True,
        text=True,
        check=True,
    )
    assert depth.stdout.strip() == "1", "the clone must be shallow (--depth 1)"


def test_second_run_clones_and_installs_nothing(colab_run):
    stdout, calls, _ = colab_run
    # A second clone would have failed on the unreachable address; a pip call
    # would appear between the two markers.
    second_run = calls[calls.index(["--- run 1 done ---"]) + 1 :]
    assert second_run == [["--- run 2 done ---"]], second_run
    assert "Untested versions" not in stdout


def test_off_colab_the_cell_does_nothing(tmp_path):
    course = tmp_path / "course"
    stdout, calls = _run_cell(
        tmp_path,
        runs=1,
        env={"COURSE_REPO_URL": "file:///nowhere", "COURSE_ROOT": str(course)},
        where="elsewhere",
    )
    assert calls == [["--- run 1 done ---"]]
    assert not course.exists()
    assert stdout.splitlines()[-1] == f"cwd {tmp_path}"


def _fake_distribution(folder: Path, name: str, version: str) -> Path:
    info = folder / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    text = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    (info / "METADATA").write_text(text)
    return folder


@pytest.mark.parametrize(
    ("name", "version", "expected"),
    [
        ("keras", "2.15.0", "keras 2.15.0 (tested: >=3.3,<3.16)"),
        ("tensorflow", "2.22.0", "tensorflow 2.22.0 (tested: >=2.16,<2.22)"),
        ("numpy", "1.25.2", "numpy 1.25.2 (tested: >=1.26)"),
    ],
)
def test_version_check_prints_one_line_when_out_of_range(
    tmp_path, name, version, expected
):
    course = tmp_path / "course"
    (course / "notebooks").mkdir(parents=True)  # already cloned: no clone, no pip
    fake = _fake_distribution(tmp_path / "site", name, version)
    stdout, calls = _run_cell(
        tmp_path,
        runs=1,
        env={"COURSE_ROOT": str(course), "EXTRA_PATH": str(fake)},
    )
    assert calls == [["--- run 1 done ---"]]
    lines = [line for line in stdout.splitlines() if not line.startswith(SCRIPT_SAYS)]
    assert len(lines) == 1, stdout
    assert lines[0].startswith("Untested versions on this Colab runtime:")
    assert expected in lines[0]
    assert "Runtime > Change runtime type" in lines[0]


def test_version_check_is_silent_in_range(tmp_path):
    course = tmp_path / "course"
    (course / "notebooks").mkdir(parents=True)
    stdout, calls = _run_cell(tmp_path, runs=1, env={"COURSE_ROOT": str(course)})
    assert calls == [["--- run 1 done ---"]]
    lines = [line for line in stdout.splitlines() if not line.startswith(SCRIPT_SAYS)]
    assert lines == [], stdout
    assert f"cwd {course / 'notebooks'}" in stdout


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_cell_installs_only_what_colab_lacks_and_checks_the_rest():
    declared = {
        d.split(">")[0].split("<")[0].split("=")[0].strip().lower(): d
        for d in _pyproject()["dependencies"]
    }
    installs = bootstrap.colab_installs(bootstrap.dependencies())
    assert installs == [declared["mlxtend"].split("#")[0].replace(" ", "")]
    tested = bootstrap.tested_ranges()
    assert tested["python"] == _pyproject()["requires-python"]
    assert tested["keras"] == declared["keras"].removeprefix("keras")
    checked = {
        "python",
        "tensorflow",
        "keras",
        "numpy",
        "matplotlib",
        "pillow",
        "pandas",
    }
    assert set(tested) == checked, "ipywidgets and jupyterlab are Colab's own"
    source = bootstrap.cell_source()
    assert source.splitlines()[0] == bootstrap.FIRST_LINE
    assert f'"{config.REPO_URL}"' in source
    assert bootstrap.COLAB_DIR == "/content/gans-and-vaes"
    assert f'"{bootstrap.COLAB_DIR}"' in source
    for name in NEVER_INSTALLED:
        assert f'"{name}' not in source.split("TESTED")[0].lower()


def test_a_dependency_that_is_not_a_plain_range_is_refused(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nrequires-python = ">=3.10"\n'
        "dependencies = [\"mlxtend[extra]>=0.23; python_version > '3'\"]\n"
    )
    with pytest.raises(ValueError, match="name plus version range"):
        bootstrap.dependencies(pyproject)


def test_generated_cell_is_ruff_clean(tmp_path):
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.skip("ruff is not installed next to this Python")
    cell = tmp_path / "cell.py"
    cell.write_text(bootstrap.cell_source() + "\n")
    config_file = str(ROOT / "pyproject.toml")
    for command in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [ruff, *command, "--config", config_file, str(cell)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def _course_copy(tmp_path: Path, source: str) -> Path:
    """A course folder with one notebook whose bootstrap cell holds `source`."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "notebooks").mkdir()
    cells = [
        {"cell_type": "markdown", "id": "title", "metadata": {}, "source": ["# 00"]},
        {
            "cell_type": "code",
            "execution_count": 1,
            "id": "boot",
            "metadata": {"slideshow": {"slide_type": "skip"}},
            "outputs": [],
            "source": source.splitlines(keepends=True),
        },
        {
            "cell_type": "code",
            "execution_count": 2,
            "id": "other",
            "metadata": {},
            "outputs": [{"output_type": "stream", "name": "stdout", "text": ["1\n"]}],
            "source": ["print(1)"],
        },
    ]
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "notebooks" / "00_start_here.ipynb"
    path.write_text(json.dumps(notebook, indent=1) + "\n")
    return path


def test_check_and_sync_keep_the_cells_in_step(tmp_path, capsys):
    old = (
        bootstrap.FIRST_LINE
        + "\nimport sys\n\nif 'google.colab' in sys.modules:\n    pass"
    )
    path = _course_copy(tmp_path, old)
    before = json.loads(path.read_text())
    assert "--sync" in bootstrap.check_notebook(path)
    assert bootstrap.main(["--check", "--root", str(tmp_path)]) == 1
    assert "00_start_here.ipynb" in capsys.readouterr().out
    assert bootstrap.sync(tmp_path) == [path]
    after = json.loads(path.read_text())
    assert "".join(after["cells"][1]["source"]) == bootstrap.cell_source()
    for key in ("id", "metadata", "execution_count", "outputs"):
        assert after["cells"][1][key] == before["cells"][1][key]
    assert after["cells"][0] == before["cells"][0]
    assert after["cells"][2] == before["cells"][2]
    assert bootstrap.check_notebook(path) is None
    assert bootstrap.main(["--check", "--root", str(tmp_path)]) == 0
    assert bootstrap.sync(tmp_path) == [], "a second sync changes nothing"


def test_a_notebook_without_a_bootstrap_cell_is_named(tmp_path):
    path = _course_copy(tmp_path, "import os")
    assert "no bootstrap cell" in bootstrap.check_notebook(path)
    with pytest.raises(ValueError, match="00_start_here.ipynb: no bootstrap cell"):
        bootstrap.sync(tmp_path)
