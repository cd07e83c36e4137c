"""Tests for course_lib.runner, the headless notebook runner."""

import ast
import json
import re
from pathlib import Path

import nbformat
import pytest

from course_lib import runner, runtimes

REPO = Path(__file__).resolve().parents[1]
COURSE_NOTEBOOKS = runner.course_notebooks(REPO / "notebooks")
# TensorFlow's C++ log lines, which the runner and nbval keep out of committed
# outputs (a notebook that fails here needs a re-run with the runner).
TF_CPP_NOISE = re.compile(
    r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [\w.]+\.cc:\d+\]"
    r"|use_unbounded_threadpool|remapper failed|oneDNN supports DT_"
    r"|oneDNN custom operations are on|before absl::InitializeLog\(\) is called",
    re.MULTILINE,
)


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
    record = tmp_path / "run_times.json"
    status = runner.main(
        ["--profile", "quick", "--record", str(record), str(good), str(bad)]
    )
    assert status == 1
    executed = nbformat.read(good, as_version=4)
    counts = [cell.execution_count for cell in executed.cells]
    assert counts == [1, 2]
    assert executed.cells[0].outputs[0]["text"].strip() == "quick"
    # The interpreter's path is machine-specific, so it is redacted.
    assert executed.cells[1].outputs[0]["text"].strip() == "<python-env>"
    report = capsys.readouterr().out
    assert "00_good.ipynb" in report and "failed" in report and "total" in report
    # Only the successful run is recorded.
    assert list(runtimes.load_record(record)["notebooks"]) == ["00_good"]


def _fake_runs(monkeypatch, outcomes):
    calls = []

    def fake_run_notebook(path, profile, cell_timeout, write=True):
        calls.append((Path(path).name, profile, write))
        return outcomes[Path(path).name]

    monkeypatch.setattr(runner, "run_notebook", fake_run_notebook)
    monkeypatch.setattr(
        runner, "_machine_summary", lambda: "CPU: Test (2 cores), no GPU"
    )
    monkeypatch.delenv("COURSE_RETRAIN", raising=False)
    return calls


def test_runner_records_each_successful_run_and_merges(tmp_path, monkeypatch):
    for name in ("00_a.ipynb", "01_b.ipynb"):
        (tmp_path / name).write_text("{}")
    record = tmp_path / "data" / "run_times.json"
    runner.record_run("05_kept", "full", 100.0, "CPU: old", path=record)
    runner.record_run("00_a", "full", 50.0, "CPU: old", path=record)
    calls = _fake_runs(
        monkeypatch, {"00_a.ipynb": (True, ""), "01_b.ipynb": (False, "boom")}
    )
    paths = [str(tmp_path / "00_a.ipynb"), str(tmp_path / "01_b.ipynb")]
    assert runner.main(["--profile", "quick", "--record", str(record), *paths]) == 1
    assert calls == [("00_a.ipynb", "quick", True), ("01_b.ipynb", "quick", True)]
    notebooks = json.loads(record.read_text())["notebooks"]
    entry = notebooks["00_a"]["quick"]
    assert entry["ok"] is True and entry["machine"] == "CPU: Test (2 cores), no GPU"
    assert entry["seconds"] >= 0 and re.match(r"^\d{4}-\d\d-\d\d$", entry["date"])
    # Earlier entries stay; the failed notebook is not recorded.
    assert notebooks["00_a"]["full"]["seconds"] == 50.0
    assert notebooks["05_kept"]["full"]["seconds"] == 100.0
    assert "01_b" not in notebooks


def test_runner_time_only_keeps_outputs_and_retrain_gpu_kinds(tmp_path, monkeypatch):
    (tmp_path / "04_c.ipynb").write_text("{}")
    record = tmp_path / "run_times.json"
    calls = _fake_runs(monkeypatch, {"04_c.ipynb": (True, "")})
    monkeypatch.setattr(runner, "_machine_summary", lambda: "GPU: NVIDIA T4")
    monkeypatch.setenv("COURSE_RETRAIN", "1")
    argv = ["--profile", "full", "--time-only", "--record", str(record)]
    assert runner.main([*argv, str(tmp_path / "04_c.ipynb")]) == 0
    assert calls == [("04_c.ipynb", "full", False)]
    assert list(runtimes.load_record(record)["notebooks"]["04_c"]) == [
        "full-retrain-gpu"
    ]


def test_runner_no_record_writes_nothing(tmp_path, monkeypatch):
    (tmp_path / "00_a.ipynb").write_text("{}")
    _fake_runs(monkeypatch, {"00_a.ipynb": (True, "")})
    record = tmp_path / "run_times.json"
    argv = ["--profile", "quick", "--no-record", "--record", str(record)]
    assert runner.main([*argv, str(tmp_path / "00_a.ipynb")]) == 0
    assert not record.exists()


def test_run_kind_names_retrain_and_gpu_runs():
    assert runner.run_kind("quick") == "quick"
    assert runner.run_kind("full", retrain=True) == "full-retrain"
    # The quick profile always trains, so COURSE_RETRAIN does not change it.
    assert runner.run_kind("quick", retrain=True, gpu=True) == "quick-gpu"
    assert runner.run_kind("full", retrain=True, gpu=True) == "full-retrain-gpu"
    with pytest.raises(ValueError, match="Fix: use one of"):
        runner.run_kind("fast")


def test_record_run_merges_and_writes_atomically(tmp_path, monkeypatch):
    path = tmp_path / "data" / "run_times.json"
    runner.record_run("04_gan", "full", 227.04, "CPU: A", path=path, date="2026-11-29")
    runner.record_run("04_gan", "quick", 61.0, "CPU: A", path=path, source="notes")
    runner.record_run("05_vae", "full", 150.0, "CPU: B", path=path)
    record = json.loads(path.read_text())
    assert record["notebooks"]["04_gan"]["full"] == {
        "seconds": 227.0,
        "date": "2026-11-29",
        "machine": "CPU: A",
        "ok": True,
    }
    assert record["notebooks"]["04_gan"]["quick"]["source"] == "notes"
    assert set(record["notebooks"]) == {"04_gan", "05_vae"}
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    # A failed write leaves the old file whole and no temporary file behind.
    before = path.read_text()

    def broken_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(runner.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        runner.record_run("06_bench", "full", 1.0, "CPU: A", path=path)
    assert path.read_text() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["run_times.json"]


def test_record_run_rejects_bad_names_and_kinds(tmp_path):
    path = tmp_path / "run_times.json"
    with pytest.raises(ValueError, match="without the folder"):
        runner.record_run("notebooks/04_gan.ipynb", "full", 1.0, "CPU", path=path)
    with pytest.raises(ValueError, match="make it with run_kind"):
        runner.record_run("04_gan", "colab", 1.0, "CPU", path=path)
    assert not path.exists()


def test_the_runner_writes_what_runtimes_reads(tmp_path):
    kinds = {
        runner.run_kind(profile, retrain=retrain, gpu=gpu)
        for profile in ("quick", "full")
        for retrain in (False, True)
        for gpu in (False, True)
    }
    assert kinds == set(runtimes.KINDS)
    path = tmp_path / "run_times.json"
    runner.record_run("04_gan", "full-gpu", 130.0, "GPU: T4", path=path)
    record = runtimes.load_record(path)
    assert runtimes.render("04", "full-gpu", record) == "~2 min"


def test_kernel_environment_quietens_tensorflow_cpp_logs_only():
    env = runner.kernel_environment("quick", {"TF_CPP_MIN_LOG_LEVEL": "2", "X": "1"})
    assert env["TF_CPP_MIN_LOG_LEVEL"] == "3" and env["COURSE_PROFILE"] == "quick"
    assert env["X"] == "1"
    # oneDNN stays as it is: switching it off changes numerics and speed.
    assert "TF_ENABLE_ONEDNN_OPTS" not in env
    verbose = runner.kernel_environment("full", {"COURSE_VERBOSE_TF": "1"})
    assert "TF_CPP_MIN_LOG_LEVEL" not in verbose


def test_nbval_kernels_get_the_runners_quiet_environment():
    # notebooks/conftest.py sets it without importing course_lib (which loads TF).
    tree = ast.parse((REPO / "notebooks" / "conftest.py").read_text())
    values = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(getattr(t, "id", None) == "QUIET_KERNEL_ENV" for t in node.targets)
    ]
    assert values == [runner.QUIET_KERNEL_ENV]


@pytest.mark.parametrize(
    "path", COURSE_NOTEBOOKS, ids=[path.name for path in COURSE_NOTEBOOKS]
)
def test_committed_outputs_carry_no_tensorflow_cpp_log_noise(path):
    noisy = []
    for index, cell in enumerate(json.loads(path.read_text())["cells"]):
        for output in cell.get("outputs", []):
            text = output.get("text", "")
            text = text if isinstance(text, str) else "".join(text)
            match = TF_CPP_NOISE.search(text)
            if match:
                line = text[text.rfind("\n", 0, match.start()) + 1 :].split("\n")[0]
                noisy.append(f"cell {index}: {line[:100]}")
    assert not noisy, (
        f"{path.name} has TensorFlow C++ log lines in its outputs; re-run it with "
        "`python -m course_lib.runner --profile full "
        + f"notebooks/{path.name}`:\n"
        + "\n".join(noisy[:5])
    )


def test_runner_rejects_unknown_profile(capsys):
    assert runner.main(["--profile", "fastest"]) == 2
    assert "Valid profiles" in capsys.readouterr().err
