"""Notebook hygiene: the committed-outputs policy and the house layout.

Policy (see README): committed notebooks keep the outputs of a real full-profile run,
so a learner can read them on GitHub without running anything.
"""

import json
import re
from pathlib import Path

import pytest

from course_lib import bootstrap, config, runner

NOTEBOOKS = runner.course_notebooks(Path(__file__).resolve().parents[1] / "notebooks")
MAX_BYTES = 1_500_000
MACHINE_PATHS = re.compile(r"(/home/\w+|/root/|/work/|/tmp/|/Users/\w+|C:\\\\Users)")
# Line magics a course notebook may use; anything else is probably a typo, which
# IPython would turn into a silent no-op or an error only at run time.
KNOWN_MAGICS = {
    "%matplotlib",
    "%time",
    "%timeit",
    "%load_ext",
    "%autoreload",
    "%pip",
    "%config",
    "%%time",
    "%%timeit",
    "%%capture",
    "%%writefile",
}


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell):
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def _ids(paths):
    return [path.name for path in paths]


def test_there_is_a_start_here_notebook():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "00_start_here.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_size_limit(path):
    assert path.stat().st_size <= MAX_BYTES, f"{path.name} is over 1.5 MB"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_outputs_come_from_one_real_run_in_order(path):
    code_cells = [c for c in _load(path)["cells"] if c["cell_type"] == "code"]
    counts = [cell.get("execution_count") for cell in code_cells]
    assert counts == list(range(1, len(code_cells) + 1)), (
        f"{path.name}: execution counts {counts} are not 1..N; refresh it with "
        "`make course PROFILE=full`"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_no_error_outputs_and_no_machine_paths(path):
    for index, cell in enumerate(_load(path)["cells"]):
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"{path.name} cell {index} errs"
            text = json.dumps({k: v for k, v in output.items() if k != "data"})
            text += json.dumps(
                {
                    k: v
                    for k, v in output.get("data", {}).items()
                    if k.startswith("text")
                }
            )
            match = MACHINE_PATHS.search(text)
            assert not match, (
                f"{path.name} cell {index} shows a machine path {match[0]}"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_title_goals_badge_bootstrap_and_profile_cells(path):
    cells = _load(path)["cells"]
    number = path.name[:2]
    title = _source(cells[0])
    assert cells[0]["cell_type"] == "markdown"
    assert re.match(rf"# {number} · \S", title), f"{path.name}: title cell"
    badge = config.colab_url(f"notebooks/{path.name}")
    assert f"]({badge})" in title, f"{path.name}: Colab badge must link to {badge}"
    markdown = [_source(c) for c in cells if c["cell_type"] == "markdown"]
    assert any(m.startswith("## Learning goals") for m in markdown)
    code = [_source(c) for c in cells if c["cell_type"] == "code"]
    assert code[0].startswith(bootstrap.FIRST_LINE), f"{path.name}: bootstrap first"
    assert any("config.get_profile()" in c and "seed_everything" in c for c in code)
    assert any("env.print_report" in c for c in code), "environment check cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_bootstrap_cell_is_the_generated_one(path):
    # Generated from config.REPO_URL and pyproject.toml (course_lib/bootstrap.py).
    problem = bootstrap.check_notebook(path)
    assert problem is None, problem


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_ends_with_summary_and_references(path):
    markdown = [
        _source(c) for c in _load(path)["cells"] if c["cell_type"] == "markdown"
    ]
    assert any(m.lstrip().startswith("## Summary") for m in markdown)
    assert any("### References" in m or "## References" in m for m in markdown)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_no_mistyped_magics(path):
    for cell in _load(path)["cells"]:
        if cell["cell_type"] != "code":
            continue
        for line in _source(cell).splitlines():
            stripped = line.strip()
            if stripped.startswith("%"):
                magic = stripped.split()[0]
                assert magic in KNOWN_MAGICS, f"{path.name}: unknown magic {magic}"


# A LaTeX command written into JSON as "\bar" or "\frac" without doubling the
# backslash becomes a control character (backspace, form feed), shown as nothing.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_no_control_characters_in_sources(path):
    for index, cell in enumerate(_load(path)["cells"]):
        found = CONTROL_CHARACTERS.search(_source(cell))
        assert found is None, (
            f"{path.name} cell {index}: control character {found.group()!r}; "
            "a LaTeX backslash was probably read as a JSON escape"
        )


def test_checked_cells_exist_somewhere():
    marked = sum(
        "# NBVAL_CHECK_OUTPUT" in _source(cell)
        for path in NOTEBOOKS
        for cell in _load(path)["cells"]
    )
    assert marked > 0, "numerical checks must be guarded by # NBVAL_CHECK_OUTPUT"


def test_hygiene_checker_catches_a_bad_notebook(tmp_path):
    """The checks above must be able to fail: run them on a broken notebook."""
    good = NOTEBOOKS[0]
    broken = _load(good)
    code_cells = [c for c in broken["cells"] if c["cell_type"] == "code"]
    code_cells[0]["execution_count"] = 5
    code_cells[1]["outputs"] = [
        {"output_type": "error", "ename": "E", "evalue": "", "traceback": []}
    ]
    code_cells[2]["source"] = "%matplotlb inline"
    broken["cells"][0]["source"] = "$\bar w$"  # \b: a backspace, not \\bar
    path = tmp_path / good.name
    path.write_text(json.dumps(broken), encoding="utf-8")
    for check in (
        test_outputs_come_from_one_real_run_in_order,
        test_no_error_outputs_and_no_machine_paths,
        test_no_mistyped_magics,
        test_no_control_characters_in_sources,
    ):
        with pytest.raises(AssertionError):
            check(path)
