"""The Colab bootstrap cell: written once here, copied into every notebook.

Every notebook's first code cell is the *bootstrap*. On Colab it clones the course
(shallow) into ``/content/gans-and-vaes``, installs ``course_lib`` from the clone
with ``--no-deps``, plus only the dependencies Colab does not ship, and prints one
line when Colab's own versions (TensorFlow, Keras, ...) fall outside the ranges the
course is tested with. Run again, it clones and installs nothing. Elsewhere it does
nothing at all.

The cell cannot import ``course_lib`` (it is what installs it), so the repository
address and the version ranges are written into its text. This module builds that
text from ``config.REPO_URL`` and ``pyproject.toml``; edit those, never the cells,
then::

    python -m course_lib.bootstrap --sync    # rewrite every notebook's bootstrap cell
    python -m course_lib.bootstrap --check   # exit 1 if a notebook's cell differs

Two environment variables redirect the cell (the tests use them):
``COURSE_REPO_URL`` (where to clone from) and ``COURSE_ROOT`` (where the course
lives; ``config.repo_root`` reads it too).

Introduced in notebooks/00_start_here.ipynb.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import tomllib

from course_lib import config

FIRST_LINE = (
    "# Bootstrap: on Colab, fetch the course and install course_lib; "
    "elsewhere, nothing."
)
COLAB_DIR = "/content/" + config.REPO_SLUG.split("/")[-1]
# Dependencies the bootstrap never installs on Colab: Colab ships its own builds of
# these (installing over them can break its Jupyter server), or, for JupyterLab,
# has its own front end. Every other dependency in pyproject.toml is installed.
COLAB_PROVIDES = frozenset(
    {
        "tensorflow",
        "keras",
        "numpy",
        "matplotlib",
        "pillow",
        "pandas",
        "ipywidgets",
        "jupyterlab",
    }
)
# Front-end packages: their pins are for JupyterLab 4. Colab runs its own front end
# and widget manager (with ipywidgets 7.7), which the course's sliders work with,
# so their versions are not checked there.
FRONT_END = frozenset({"ipywidgets", "jupyterlab"})
_NOTEBOOK_NAME = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")
_REQUIREMENT = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?P<spec>[<>=!~,.\d\s*]*)$"
)

_TEMPLATE = """{first_line}
# Written by `python -m course_lib.bootstrap --sync`: edit that module, not this cell.
import os
import subprocess
import sys

if "google.colab" in sys.modules:
    # COURSE_REPO_URL and COURSE_ROOT redirect it (for forks and the course's tests).
    REPO_URL = os.environ.get(
        "COURSE_REPO_URL", "{repo_url}"
    )
    COURSE_DIR = os.environ.get("COURSE_ROOT", "{course_dir}")
    if not os.path.isdir(COURSE_DIR):
        subprocess.run(
            ["git", "clone", "--depth", "1", REPO_URL, COURSE_DIR], check=True
        )
        # Colab ships TensorFlow, Keras, NumPy and Matplotlib: --no-deps leaves
        # them alone, so only course_lib and what Colab lacks get installed.
        # Colab's Python may be newer than the tested range: see the check below.
        pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps"]
        pip += ["--ignore-requires-python", "-e", COURSE_DIR{installs}]
        subprocess.run(pip, check=True)
    if COURSE_DIR not in sys.path:
        sys.path.insert(0, COURSE_DIR)
    os.chdir(os.path.join(COURSE_DIR, "notebooks"))

    import platform
    from importlib.metadata import PackageNotFoundError, version

    from packaging.specifiers import SpecifierSet

    TESTED = {{  # the versions the course is tested with (pyproject.toml)
{tested}
    }}
    untested = []
    for name, spec in TESTED.items():
        try:
            found = platform.python_version() if name == "python" else version(name)
        except PackageNotFoundError:
            found = "missing"
        if found == "missing" or found not in SpecifierSet(spec):
            untested.append(f"{{name}} {{found}} (tested: {{spec}})")
    if untested:
        print(
            "Untested versions on this Colab runtime:",
            "; ".join(untested),
            "- if a cell fails, pick an earlier runtime version in "
            "Runtime > Change runtime type.",
        )"""


def _pyproject(path: Path | None = None) -> dict:
    path = Path(path) if path else config.repo_root() / "pyproject.toml"
    if not path.is_file():
        raise ValueError(
            f"no pyproject.toml at {path}: run this from the course repository "
            "(or set COURSE_ROOT to it)."
        )
    return tomllib.loads(path.read_text(encoding="utf-8"))["project"]


def dependencies(pyproject: Path | None = None) -> dict[str, str]:
    """Read the course's dependencies and their version ranges from pyproject.toml.

    Args:
        pyproject: The file; defaults to the repository's.

    Returns:
        Lower-case package name to its specifier, such as
        ``{"keras": ">=3.3,<3.16", ...}``, in the file's order.
    """
    ranges = {}
    for requirement in _pyproject(pyproject)["dependencies"]:
        match = _REQUIREMENT.match(requirement.strip())
        if not match:
            raise ValueError(
                f"cannot read the dependency {requirement!r} in pyproject.toml: "
                "write it as name plus version range, such as 'keras>=3.3,<3.16' "
                "(no extras or markers), or teach course_lib.bootstrap to read it."
            )
        ranges[match["name"].lower()] = match["spec"].replace(" ", "")
    return ranges


def colab_installs(ranges: dict[str, str]) -> list[str]:
    """Return the requirements the bootstrap installs next to course_lib on Colab.

    Args:
        ranges: The dependencies, as from ``dependencies()``.

    Returns:
        Every dependency Colab does not provide, such as ``["mlxtend>=0.23"]``.
    """
    return [name + spec for name, spec in ranges.items() if name not in COLAB_PROVIDES]


def tested_ranges(pyproject: Path | None = None) -> dict[str, str]:
    """Return the ranges the cell checks Colab's own versions against.

    Args:
        pyproject: The file; defaults to the repository's.

    Returns:
        ``{"python": requires-python, "tensorflow": ..., ...}``: Python and every
        dependency Colab provides, front-end packages excepted.
    """
    ranges = dependencies(pyproject)
    tested = {"python": _pyproject(pyproject)["requires-python"].replace(" ", "")}
    for name, spec in ranges.items():
        if name in COLAB_PROVIDES and name not in FRONT_END and spec:
            tested[name] = spec
    return tested


def cell_source(repo_url: str = config.REPO_URL, pyproject: Path | None = None) -> str:
    """Build the bootstrap cell's source.

    Args:
        repo_url: The repository the cell clones on Colab.
        pyproject: The dependency list; defaults to the repository's.

    Returns:
        The cell's text, without a trailing newline (as notebooks store it).
    """
    installs = "".join(
        f', "{spec}"' for spec in colab_installs(dependencies(pyproject))
    )
    tested = "\n".join(
        f'        "{name}": "{spec}",'
        for name, spec in tested_ranges(pyproject).items()
    )
    return _TEMPLATE.format(
        first_line=FIRST_LINE,
        repo_url=repo_url,
        course_dir=COLAB_DIR,
        installs=installs,
        tested=tested,
    )


def course_notebooks(root: Path | None = None) -> list[Path]:
    """Return the numbered notebooks of the course (scratch ``_*`` files excluded).

    Args:
        root: The course folder; defaults to the repository.

    Returns:
        Sorted paths under ``<root>/notebooks``.
    """
    folder = Path(root or config.repo_root()) / "notebooks"
    return sorted(p for p in folder.glob("*.ipynb") if _NOTEBOOK_NAME.match(p.name))


def _source(cell: dict) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def bootstrap_cell(notebook: dict) -> dict | None:
    """Return a notebook's bootstrap cell: the code cell that starts with FIRST_LINE.

    Args:
        notebook: The notebook, as parsed JSON.

    Returns:
        The cell (a dict inside ``notebook``), or ``None`` when there is none.
    """
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code" and _source(cell).startswith(FIRST_LINE):
            return cell
    return None


def check_notebook(path: Path, expected: str | None = None) -> str | None:
    """Say what is wrong with a notebook's bootstrap cell, if anything.

    Args:
        path: The notebook.
        expected: The cell's expected source; defaults to ``cell_source()``.

    Returns:
        A message naming the fix, or ``None`` when the cell is as generated.
    """
    expected = cell_source() if expected is None else expected
    path = Path(path)
    cell = bootstrap_cell(json.loads(path.read_text(encoding="utf-8")))
    if cell is None:
        return (
            f"{path.name}: no bootstrap cell; add a code cell whose first line is "
            f"{FIRST_LINE!r} after the title, then run "
            "`python -m course_lib.bootstrap --sync`"
        )
    if _source(cell) != expected:
        return (
            f"{path.name}: the bootstrap cell differs from course_lib/bootstrap.py; "
            "run `python -m course_lib.bootstrap --sync`"
        )
    return None


def sync(root: Path | None = None) -> list[Path]:
    """Rewrite the bootstrap cell of every notebook from ``cell_source()``.

    Only the cell's source changes: its id, metadata, outputs and execution count,
    and every other cell, stay as they are.

    Args:
        root: The course folder; defaults to the repository.

    Returns:
        The notebooks that changed.
    """
    root = Path(root or config.repo_root())
    expected = cell_source(pyproject=root / "pyproject.toml")
    changed = []
    for path in course_notebooks(root):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        cell = bootstrap_cell(notebook)
        if cell is None:
            raise ValueError(check_notebook(path, expected))
        if _source(cell) == expected:
            continue
        lines = expected.splitlines(keepends=True)
        cell["source"] = expected if isinstance(cell["source"], str) else lines
        # nbformat's layout, in the file's own key order: only this cell changes.
        text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
        path.write_text(text, encoding="utf-8")
        changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m course_lib.bootstrap --sync | --check | --print``.

    Args:
        argv: The arguments; ``sys.argv[1:]`` by default.

    Returns:
        0 on success; 1 when ``--check`` finds a cell that differs.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--sync", action="store_true", help="rewrite every cell")
    action.add_argument("--check", action="store_true", help="list cells that differ")
    action.add_argument("--print", action="store_true", help="print the cell")
    parser.add_argument("--root", type=Path, default=None, help="the course folder")
    args = parser.parse_args(argv)
    root = Path(args.root or config.repo_root())
    if args.print:
        print(cell_source(pyproject=root / "pyproject.toml"))
        return 0
    if args.check:
        expected = cell_source(pyproject=root / "pyproject.toml")
        problems = [
            problem
            for path in course_notebooks(root)
            if (problem := check_notebook(path, expected))
        ]
        print("\n".join(problems) or "every bootstrap cell is as generated")
        return 1 if problems else 0
    for path in sync(root):
        print(f"synced {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
