"""Packaging: pyproject.toml is the one dependency list; the rest agrees with it."""

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _names(requirements):
    return {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_course_needs_are_declared():
    project = _pyproject()["project"]
    runtime = _names(project["dependencies"])
    dev = _names(project["optional-dependencies"]["dev"])
    for name in (
        "tensorflow",
        "keras",
        "matplotlib",
        "ipywidgets",
        "jupyterlab",
        "mlxtend",
    ):
        assert name in runtime, name
    for name in ("pytest", "pytest-xdist", "nbval", "ruff"):
        assert name in dev, name


def test_environment_yml_installs_the_package_from_pyproject():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    dependencies = environment["dependencies"]
    assert "python=3.11" in dependencies
    pip_entries = [d["pip"] for d in dependencies if isinstance(d, dict)]
    assert pip_entries == [["-e .[dev]"]], (
        "environment.yml must only pip-install .[dev]"
    )
    # No package is pinned twice: the conda file names nothing else.
    assert set(d for d in dependencies if isinstance(d, str)) == {"python=3.11", "pip"}


def test_python_range_includes_311():
    assert _pyproject()["project"]["requires-python"] == ">=3.10,<3.13"


def test_ci_calls_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
    assert "make lab" in readme
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test:", makefile, re.M) and re.search(r"^lab:", makefile, re.M)
