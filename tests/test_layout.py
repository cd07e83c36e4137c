"""The layout of course_lib: one job per module, small modules, imports flowing down.

The floors below are the diagram in README.md ("The code: course_lib's floors"); a
module may import only from a lower floor (modules of one floor never import each
other), so the import graph can have no circle.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "course_lib"
MAX_LINES = 400

FLOORS = {
    1: "config hardware models transformer losses augment clusters pixels plotting "
    "animation token_checks pipeline replicas",
    2: "recipes store latents env runtimes classroom slides bootstrap token_data",
    3: "data checkpoints runner autograde",
    4: "training",
    5: "gan vae classifier vq token_sampling latent_diffusion toy2d",
    6: "evaluation tokens",
    7: "shipped widgets bench checks",
    8: "ship tokens_ship frontier colab_estimate",
    9: "train",
}
FLOOR_OF = {name: floor for floor, names in FLOORS.items() for name in names.split()}
# Imports allowed inside a function: optional or heavy tools, each with a reason.
LOCAL_IMPORT_OK = re.compile(r"#")


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts == ("__init__",):
            continue
        yield parts[0], path


def course_imports(tree):
    """Yield (node, top-level course_lib module) for every course_lib import."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "course_lib":
                for alias in node.names:
                    yield node, alias.name
            elif node.module.startswith("course_lib."):
                yield node, node.module.split(".")[1]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("course_lib."):
                    yield node, alias.name.split(".")[1]


def test_every_module_has_a_floor():
    missing = sorted({top for top, _ in modules()} - set(FLOOR_OF))
    assert not missing, f"add {missing} to a floor here and in README.md"


def test_imports_flow_down_only():
    upward = []
    for top, path in modules():
        for node, imported in course_imports(ast.parse(path.read_text())):
            if imported == top:
                continue  # inside the bench subpackage
            if FLOOR_OF.get(imported, 0) >= FLOOR_OF[top]:
                upward.append(f"{path.relative_to(ROOT)}:{node.lineno} -> {imported}")
    assert not upward, "imports that do not flow down: " + "; ".join(upward)


def test_no_module_is_over_the_size_limit():
    long = {
        str(path.relative_to(ROOT)): count
        for _, path in modules()
        if (count := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_function_local_imports_say_why():
    unexplained = []
    for _, path in modules():
        source = path.read_text()
        lines = source.splitlines()
        for function in ast.walk(ast.parse(source)):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    # The comment may head a block of several imports.
                    window = lines[max(0, node.lineno - 6) : node.lineno]
                    if not any(LOCAL_IMPORT_OK.search(line) for line in window):
                        unexplained.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not unexplained, (
        "function-local imports without a comment saying why (only optional "
        f"dependencies belong there): {unexplained}"
    )


def test_the_readme_diagram_names_every_floor():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The code: `course_lib`'s floors", 1)[1].split("\n## ")[0]
    for name in FLOOR_OF:
        assert re.search(rf"\b{name}\b", section), f"README's diagram lacks {name}"
