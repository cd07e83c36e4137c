"""Every course notebook renders in JupyterLab in headless Chromium; widgets work.

For each ``notebooks/NN_*.ipynb``: open it in JupyterLab in Debian's Chromium and
check the notebook model (no error outputs, every code cell ran) and the page
(every widget output became a widget view, every PNG output a loaded image, and
sliders redraw their figures). Every notebook's saved full-profile outputs must
render: nbval runs every cell of every notebook, so running them a second time
here would test nothing new. Widgets need a live kernel, so a notebook with
widgets runs the cells its widgets need (``widget_cells``: the widget cells and,
by name, those they depend on; quick profile) and shows the rest as saved. The
notebooks with widgets start running together, each in its own page and kernel,
before the first course notebook is checked, so that they run side by side and
while the others are opened. A screenshot of each notebook goes to
``build/screenshots/``.

The checker's own tests come first: a working fixture must pass, and a widget
that cannot render, a slider that drives nothing, a missing widget extension,
and a raising cell (or widget callback) must each fail.
"""

import json
from pathlib import Path

import pytest
from lab_server import WIDGET_MANAGER_EXTENSION, LabServer
from notebook_check import check_notebook, close_notebook, start_notebook
from notebook_model import (
    WIDGET_VIEW_MIME,
    course_notebooks,
    needs_kernel,
    widget_cells,
)

FIXTURES = Path(__file__).parent / "fixtures"


def _problems_text(report):
    return report.summary() + "\n" + "\n".join(report.problems)


def test_checker_passes_working_widgets(
    lab_server, browser_context, screenshot_dir, record_report
):
    report = check_notebook(
        browser_context,
        lab_server,
        FIXTURES / "widgets_ok.ipynb",
        screenshot_dir / "fixtures",
        run_timeout=120,
    )
    record_report(report)
    assert not report.problems, _problems_text(report)
    # A slider and an interact(); one static figure. Counted from the saved model.
    assert (report.widget_outputs, report.widgets_rendered) == (2, 2)
    assert (report.png_outputs, report.images_rendered) == (1, 1)
    assert report.widget_images_rendered == 1  # The interact() plot...
    assert report.widgets_exercised == 1  # ...redrawn when its slider moves.
    assert report.screenshot.stat().st_size > 10_000


def test_checker_fails_on_widgets_that_cannot_render_or_respond(
    lab_server, browser_context, screenshot_dir, record_report
):
    report = check_notebook(
        browser_context,
        lab_server,
        FIXTURES / "broken_widget.ipynb",
        screenshot_dir / "fixtures",
        run_timeout=120,
        render_timeout=20,
        slider_timeout=5,
    )
    record_report(report)
    problems = _problems_text(report)
    assert report.error_outputs == 0, problems  # The kernel side is fine...
    assert report.widget_outputs == 3
    assert report.widgets_rendered == 1  # ...but the browser shows only the last.
    assert "cell 1: widget not rendered: ipywidgets error view" in problems, problems
    assert "cell 2: widget not rendered: Error displaying widget" in problems, problems
    assert "cell 3: moving the widget's first slider did not change" in problems


def test_checker_fails_on_error_output(
    lab_server, browser_context, screenshot_dir, record_report
):
    report = check_notebook(
        browser_context,
        lab_server,
        FIXTURES / "error_cell.ipynb",
        screenshot_dir / "fixtures",
        run_timeout=120,
    )
    record_report(report)
    problems = _problems_text(report)
    assert report.error_outputs == 2, problems
    assert "shows an error: ValueError: deliberate failure inside" in problems
    assert "cell 3 output an error: RuntimeError" in problems
    # Run-all stops at the error, so the last cell never runs.
    assert any(problem == "cell 4 did not run" for problem in report.problems), problems


def test_render_only_check_shows_saved_figures_and_catches_saved_errors(
    lab_server, browser_context, screenshot_dir, record_report
):
    notebook = FIXTURES / "saved_outputs.ipynb"
    assert not needs_kernel(notebook)
    assert needs_kernel(FIXTURES / "widgets_ok.ipynb") is False  # never run: no outputs
    report = check_notebook(
        browser_context, lab_server, notebook, screenshot_dir / "fixtures", run=False
    )
    record_report(report)
    problems = _problems_text(report)
    assert (report.png_outputs, report.images_rendered) == (1, 1), problems
    assert report.executed_cells == report.code_cells == 3, problems
    assert report.problems == ["cell 3 output an error: ValueError: saved failure"]


def test_checker_fails_without_widget_extension(
    browser_requirements, browser_context, screenshot_dir, record_report
):
    with LabServer(disabled_extensions=(WIDGET_MANAGER_EXTENSION,)) as server:
        report = check_notebook(
            browser_context,
            server,
            FIXTURES / "widgets_ok.ipynb",
            screenshot_dir / "fixtures",
            run_timeout=120,
            render_timeout=5,
            screenshot_name="widgets_ok_without_widget_extension",
        )
    record_report(report)
    assert report.error_outputs == 0
    assert report.widget_outputs == 2
    assert report.widgets_rendered == 0
    assert any(
        "no widget view (widget extension loaded?)" in problem
        for problem in report.problems
    )


def test_widget_cells_are_the_widgets_and_what_they_read(tmp_path):
    sources = [
        "# Not code",
        "import numpy as np\nfrom os import path",
        "scale = 2.0",  # Hidden by the next cell's plain assignment.
        "scale = np.float64(3)",
        "unused = path.sep",
        "%matplotlib inline",  # Magics are kept.
        "total = 0",
        "total += scale",  # Reads total too.
        "if total > 1:\n    total = 10",  # May bind: needed, hides nothing.
        "input = 3",  # A builtin's name, bound here.
        "shown = [total * k + input for k in range(3)]",
        "after = shown",  # After the last widget: never needed.
    ]
    widget = 10
    notebook = {
        "cells": [
            _cell("markdown" if index == 0 else "code", source, index == widget)
            for index, source in enumerate(sources)
        ]
    }
    path = tmp_path / "slice.ipynb"

    def slice_with(index=None, source=None):
        cells = json.loads(json.dumps(notebook))
        if index is not None:
            cells["cells"][index]["source"] = source
        path.write_text(json.dumps(cells))
        return widget_cells(path)

    assert slice_with() == [1, 3, 5, 6, 7, 8, 9, 10]
    # What the analysis cannot follow makes everything run.
    assert slice_with(4, "unused = (") is None  # Not Python.
    assert slice_with(4, "from os import *") is None
    assert slice_with(4, "def setup():\n    global total\n    total = 5") is None
    assert widget_cells(FIXTURES / "saved_outputs.ipynb") == []


def _cell(kind, source, widget=False):
    cell = {"cell_type": kind, "metadata": {}, "source": source}
    if kind == "code":
        data = {WIDGET_VIEW_MIME: {"model_id": "0" * 32}} if widget else {}
        cell["outputs"] = [{"output_type": "display_data", "data": data}]
        cell["execution_count"] = 1
    return cell


def test_the_widget_pass_runs_only_what_the_widgets_need(
    lab_server, browser_context, screenshot_dir, record_report
):
    # The fixture's cell 3 raises if run; its saved output must stay as it was.
    notebook = FIXTURES / "widget_pass.ipynb"
    assert needs_kernel(notebook) and widget_cells(notebook) == [1, 2, 4]
    report = check_notebook(
        browser_context,
        lab_server,
        notebook,
        screenshot_dir / "fixtures",
        run_timeout=120,
        cells=widget_cells(notebook),
    )
    record_report(report)
    assert not report.problems, _problems_text(report)
    assert report.cells_run == 3
    assert report.executed_cells == report.code_cells == 5
    assert (report.widgets_rendered, report.widgets_exercised) == (1, 1)


def test_the_widget_pass_fails_when_a_needed_cell_is_left_out(
    lab_server, browser_context, screenshot_dir, record_report
):
    report = check_notebook(
        browser_context,
        lab_server,
        FIXTURES / "widget_pass.ipynb",
        screenshot_dir / "fixtures",
        run_timeout=120,
        cells=[1, 4],  # Without cell 2, which binds `scale`.
        screenshot_name="widget_pass_without_a_needed_cell",
    )
    record_report(report)
    problems = _problems_text(report)
    assert "NameError: name 'scale' is not defined" in problems, problems


@pytest.fixture(scope="module")
def widget_runs(lab_server, browser_context):
    """Every course notebook with widgets, started running, each in its own page."""
    started = {
        notebook.name: start_notebook(
            browser_context,
            lab_server,
            notebook,
            run=True,
            shared=False,
            cells=widget_cells(notebook),
        )
        for notebook in course_notebooks()
        if needs_kernel(notebook)
    }
    yield started
    for unchecked in started.values():  # Only if a test was deselected.
        close_notebook(unchecked, lab_server)


@pytest.mark.parametrize("notebook", course_notebooks(), ids=lambda path: path.stem)
def test_notebook_runs_and_renders_in_browser(
    notebook, lab_server, browser_context, screenshot_dir, record_report, widget_runs
):
    run = needs_kernel(notebook)
    report = check_notebook(
        browser_context,
        lab_server,
        notebook,
        screenshot_dir,
        run=run,
        started=widget_runs.pop(notebook.name, None),
    )
    record_report(report)
    assert not report.problems, _problems_text(report)
    assert report.executed_cells == report.code_cells > 0
