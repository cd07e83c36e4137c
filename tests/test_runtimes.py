"""Tests for course_lib.runtimes: the run-time record and the statements it renders."""

import json
import shutil
from pathlib import Path

import pytest

from course_lib import runner, runtimes

REPO = Path(__file__).resolve().parents[1]
COURSE_NOTEBOOKS = runner.course_notebooks(REPO / "notebooks")
MARKED_FILES = [
    *COURSE_NOTEBOOKS,
    REPO / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
]


def _record(**entries):
    notebooks = {}
    for name, seconds in entries.items():
        stem, kind = name.rsplit("__", 1)
        notebooks.setdefault(stem, {})[kind.replace("_", "-")] = {
            "seconds": seconds,
            "date": "2026-12-01",
            "machine": "CPU: Test (2 cores), no GPU",
            "ok": True,
        }
    return {"notebooks": notebooks}


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "~5 s"),
        (9.9, "~10 s"),
        (41, "~40 s"),
        (57, "~55 s"),
        (58, "~1 min"),
        (90, "~1.5 min"),
        (125, "~2 min"),
        (220.9, "~3.5 min"),
        (442.8, "~7.5 min"),
        (590, "~10 min"),
        (719, "~12 min"),
    ],
)
def test_human_duration_rounds_for_a_reader(seconds, expected):
    assert runtimes.human_duration(seconds) == expected


def test_human_duration_rejects_a_negative_time():
    with pytest.raises(ValueError, match="negative"):
        runtimes.human_duration(-1)


def test_render_gives_not_measured_and_a_max_only_over_every_notebook():
    record = _record(**{"00_x__full": 30.0, "01_y__full": 200.0, "01_y__quick": 50.0})
    assert runtimes.render("01", "full", record) == "~3.5 min"
    assert runtimes.render("01", "full-gpu", record) == "not measured"
    assert runtimes.render("02", "full", record) == "not measured"
    assert runtimes.render("max", "full", record) == "~3.5 min"
    # 00 has no quick entry, so the longest quick notebook is not known.
    assert runtimes.render("max", "quick", record) == "not measured"


def test_sync_text_rewrites_only_marked_statements():
    record = _record(**{"04_gan__full": 227.0})
    text = (
        "| full | <!-- runtime 04 full -->~7 min<!-- /runtime --> (shipped) |\n"
        "| gpu | <!-- runtime 04 full-gpu -->~2 min<!-- /runtime --> |\n"
        "Training alone takes 7 min."
    )
    synced = runtimes.sync_text(text, record)
    assert synced == (
        "| full | <!-- runtime 04 full -->~4 min<!-- /runtime --> (shipped) |\n"
        "| gpu | <!-- runtime 04 full-gpu -->not measured<!-- /runtime --> |\n"
        "Training alone takes 7 min."
    )
    assert runtimes.disagreements(synced, record) == []
    assert runtimes.disagreements(text, record) == [
        "04 full: says '~7 min', record gives '~4 min'",
        "04 full-gpu: says '~2 min', record gives 'not measured'",
    ]


TABLE = """## Learning goals

- Train a thing.

| profile and machine | run time |
|---|---|
| quick (2-core CPU, CI) | ~1 min (measured) |
| full (2-core CPU, shipped weights) | ~7 min (measured) |
| full with `COURSE_RETRAIN=1` (2-core CPU) | ~15 min (7.0 min of training) |
| full (Colab GPU) | a few minutes (not measured) |

| quick | not a run-time table |"""


def test_insert_markers_marks_each_row_of_a_notebook_copy(tmp_path):
    source = REPO / "notebooks" / "00_start_here.ipynb"
    path = tmp_path / "04_gan_training.ipynb"
    shutil.copy(source, path)
    notebook = json.loads(path.read_text())
    notebook["cells"][1]["source"] = TABLE.splitlines(keepends=True)
    path.write_text(json.dumps(notebook, sort_keys=True, indent=1) + "\n")
    before = json.loads(path.read_text())

    assert runtimes.insert_markers(path) is True
    after = json.loads(path.read_text())
    marked = "".join(after["cells"][1]["source"])
    assert runtimes.find_markers(marked) == [
        ("04", "quick", "not measured"),
        ("04", "full", "not measured"),
        ("04", "full-retrain", "not measured"),
        ("04", "full-gpu", "not measured"),
    ]
    assert "| full with `COURSE_RETRAIN=1` (2-core CPU) | <!-- runtime 04 " in marked
    assert "<!-- /runtime --> (7.0 min of training) |" in marked
    assert "(measured)" not in marked and "a few minutes" not in marked
    assert marked.endswith("| quick | not a run-time table |")
    # Only that markdown cell changed: ids, code cells and outputs are as they were.
    assert [c.get("id") for c in after["cells"]] == [
        c.get("id") for c in before["cells"]
    ]
    for old, new in zip(before["cells"], after["cells"], strict=True):
        if old is not before["cells"][1]:
            assert old == new
    # Inserting again changes nothing.
    assert runtimes.insert_markers(path) is False


def test_sync_rewrites_a_course_copy_and_keeps_outputs(tmp_path):
    (tmp_path / "notebooks").mkdir()
    for name in ("00_start_here.ipynb",):
        shutil.copy(REPO / "notebooks" / name, tmp_path / "notebooks" / name)
    (tmp_path / "README.md").write_text(
        "quick: <!-- runtime 00 quick -->~9 min<!-- /runtime -->\n"
    )
    record = _record(**{"00_start_here__quick": 12.0, "00_start_here__full": 31.0})
    before = json.loads((tmp_path / "notebooks" / "00_start_here.ipynb").read_text())
    changed = runtimes.sync(tmp_path, record)
    assert tmp_path / "README.md" in changed
    assert (
        "<!-- runtime 00 quick -->~10 s<!-- /runtime -->"
        in (tmp_path / "README.md").read_text()
    )
    after = json.loads((tmp_path / "notebooks" / "00_start_here.ipynb").read_text())
    for old, new in zip(before["cells"], after["cells"], strict=True):
        assert old.get("outputs") == new.get("outputs") and old["id"] == new["id"]
    for path in runtimes.marked_files(tmp_path):
        assert runtimes.disagreements(runtimes.file_markdown(path), record) == []


def test_the_record_is_well_formed():
    record = runtimes.load_record()
    assert record["notebooks"], "data/run_times.json has no entries"
    for stem, kinds in record["notebooks"].items():
        assert (REPO / "notebooks" / f"{stem}.ipynb").is_file(), stem
        for kind, entry in kinds.items():
            assert kind in runtimes.KINDS
            assert entry["ok"] is True and entry["seconds"] > 0
            assert entry["machine"] and entry["date"]


@pytest.mark.parametrize("path", MARKED_FILES, ids=[p.name for p in MARKED_FILES])
def test_every_marked_statement_agrees_with_the_record(path):
    problems = runtimes.disagreements(
        runtimes.file_markdown(path), runtimes.load_record()
    )
    assert not problems, (
        f"{path.name}: run times differ from data/run_times.json; "
        "run `python -m course_lib.runtimes --sync`:\n" + "\n".join(problems)
    )


@pytest.mark.parametrize(
    "path", COURSE_NOTEBOOKS, ids=[p.name for p in COURSE_NOTEBOOKS]
)
def test_each_notebooks_run_time_table_is_marked(path):
    number = path.name[:2]
    kinds = {
        kind
        for notebook, kind, _ in runtimes.find_markers(runtimes.file_markdown(path))
        if notebook == number
    }
    missing = sorted({"quick", "full"} - kinds)
    assert not missing, (
        f"{path.name}'s run-time table has no marker for {missing}; run "
        f"`python -m course_lib.runtimes --insert-markers notebooks/{path.name}`"
    )


def test_course_map_and_readme_mark_every_notebook():
    for path in (REPO / "notebooks" / "00_start_here.ipynb", REPO / "README.md"):
        markers = runtimes.find_markers(runtimes.file_markdown(path))
        for notebook in COURSE_NOTEBOOKS:
            number = notebook.name[:2]
            kinds = {kind for n, kind, _ in markers if n == number}
            assert {"quick", "full"} <= kinds, f"{path.name} lacks {number}'s times"
