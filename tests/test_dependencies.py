"""Every third-party module the notebooks and course_lib import is declared.

Notebook 08 once imported pandas, which only arrived because mlxtend happens to
depend on it: a fresh install that changed mlxtend would have broken the notebook.
This test reads the imports (with ``ast``, not by importing) and checks each one
against pyproject.toml, or against the short list below of modules that a declared
package is documented to bring.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
# Import name -> distribution name, where they differ.
DISTRIBUTION = {"PIL": "pillow", "yaml": "pyyaml"}
# Modules a declared package requires, with the package that brings them.
BROUGHT_BY = {
    "IPython": "ipykernel, a dependency of jupyterlab",
    "h5py": "keras (its weights files)",
    "packaging": "jupyterlab; also the Colab-only bootstrap branch (Colab ships it)",
    "nbconvert": "nbgrader (the teach extra)",
}


def _declared() -> dict[str, set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"core": project["dependencies"]}
    groups.update(project.get("optional-dependencies", {}))
    names = {}
    for group, requirements in groups.items():
        names[group] = {
            re.split(r"[<>=!~\[ ]", requirement.strip())[0].lower()
            for requirement in requirements
        }
    return names


def _imports(source: str) -> set[str]:
    # Drop IPython magics and shell escapes, which are not Python.
    lines = [
        line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))
    ]
    modules = set()
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return {
        module
        for module in modules
        if module not in sys.stdlib_module_names and module != "course_lib"
    }


def _notebook_imports() -> dict[str, set[str]]:
    found = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        for cell in cells:
            if cell["cell_type"] == "code":
                for module in _imports("".join(cell["source"])):
                    found.setdefault(module, set()).add(path.name)
    return found


def _library_imports() -> dict[str, set[str]]:
    found = {}
    for path in sorted((ROOT / "course_lib").rglob("*.py")):
        for module in _imports(path.read_text()):
            found.setdefault(module, set()).add(path.name)
    return found


def _missing(found, allowed):
    missing = {}
    for module, where in found.items():
        name = DISTRIBUTION.get(module, module).lower()
        if name not in allowed and module not in BROUGHT_BY:
            missing[module] = sorted(where)
    return missing


def test_notebooks_import_only_core_dependencies():
    missing = _missing(_notebook_imports(), _declared()["core"])
    assert not missing, (
        f"notebooks import modules that pyproject.toml does not declare: {missing}. "
        "Fix: add them to [project] dependencies (and to bootstrap.COLAB_PROVIDES "
        "if Colab ships them), or stop importing them."
    )


def test_course_lib_imports_only_declared_dependencies():
    declared = _declared()
    missing = _missing(_library_imports(), set().union(*declared.values()))
    assert not missing, (
        f"course_lib imports modules that pyproject.toml does not declare: {missing}"
    )


def test_the_check_catches_an_undeclared_import():
    # The check must be able to fail: an import of a module nobody declares.
    found = {"pandas": {"x.ipynb"}, "numpy": {"x.ipynb"}, "PIL": {"x.ipynb"}}
    assert _missing(found, {"numpy", "pillow"}) == {"pandas": ["x.ipynb"]}
    assert _imports("%matplotlib inline\nimport os\nfrom scipy import stats\n") == {
        "scipy"
    }
