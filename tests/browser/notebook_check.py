"""Check one notebook in JupyterLab in the browser: open, run, check, close.

``check_notebook()`` copies a notebook to a scratch name, opens it in the
browser, runs all cells (or only those its widgets need), saves it, and returns
a ``NotebookReport``;
``start_notebook()`` does its first half (open, start the run), so that several
notebooks can run side by side before each is checked, and ``close_notebook()``
ends a started one. On the way it moves sliders (a live widget must redraw its
image) and saves screenshots of the whole notebook.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from lab_scripts import (
    CLOSE_ALL_JS,
    IMAGE_SOURCES_JS,
    IMAGES_CHANGED_JS,
    MARK_SLIDER_WIDGETS_JS,
    NEXT_FRAME_JS,
    NOTEBOOK_READY_JS,
    OPEN_JS,
    PREPARE_SCREENSHOT_JS,
    RENDERED_OUTPUTS_JS,
    RUN_ALL_FINISHED_JS,
    SAVE_JS,
    SCROLL_NOTEBOOK_JS,
    START_RUN_JS,
)
from lab_server import VIEWPORT, LabServer
from notebook_model import (
    WIDGET_VIEW_MIME,
    NotebookReport,
    check_model,
    check_widget_state,
    compare_rendering,
    model_outputs,
    rendering_settled,
    write_scratch_copy,
)

SCRATCH_PREFIX = "_browser_"
# Seconds allowed for one notebook's run-all; quick-profile notebooks need ~1 min.
RUN_TIMEOUT_SECONDS = float(os.environ.get("COURSE_BROWSER_RUN_TIMEOUT", "420"))
# Seconds a slider-driven widget may take to redraw its image after a key press.
SLIDER_RESPONSE_SECONDS = 30
# Chromium refuses screenshots much taller than 16,384 pixels.
MAX_SCREENSHOT_HEIGHT = 12000


@dataclass
class OpenNotebook:
    """A notebook open in the browser, perhaps still running: see ``start_notebook``.

    Args:
        report: Its report, filled in by ``check_notebook``.
        page: The Playwright page that shows it.
        scratch: The scratch copy the page has open.
        relative: The scratch copy's path relative to the server's root.
        shared: Whether ``page`` is the server's shared page (else its own).
        started: ``time.monotonic()`` when it was opened.
        console_errors: The page's console errors since then.
    """

    report: NotebookReport
    page: object
    scratch: Path
    relative: str
    shared: bool
    started: float
    context: object = None
    console_errors: list[str] = field(default_factory=list)
    on_console: object = None
    opened: bool = False


# The scratch paths of notebooks started and not yet checked: their kernels stay.
_RUNNING: set[str] = set()


def start_notebook(
    context,
    server: LabServer,
    notebook: Path,
    run: bool = True,
    screenshot_name: str | None = None,
    shared: bool = True,
    cells: list[int] | None = None,
) -> OpenNotebook:
    """Open one notebook in the browser and, with ``run``, start running all cells.

    ``check_notebook`` finishes the job. Starting several notebooks first (each
    with ``shared=False``, in its own page) lets their kernels run side by side.

    Args:
        context: The Playwright browser context from ``launch_chromium``.
        server: A started ``LabServer`` whose root holds ``notebook``.
        notebook: The notebook to open (copied to a scratch name first).
        run: Start running all cells (``False``: only open it, for its saved
            outputs).
        screenshot_name: The report's name and screenshot's file stem; the
            notebook's by default.
        shared: Open it in the server's shared page (one notebook at a time), or
            in a page of its own.
        cells: With ``run``, run only these cells (indices into the notebook's
            cells, as ``notebook_model.widget_cells`` gives them), whose saved
            outputs are cleared first, so that each must run again to pass; the
            others keep their saved outputs. ``None`` runs all cells.

    Returns:
        The ``OpenNotebook``; a failure to open it is in its report's problems.
    """
    notebook = Path(notebook).resolve()
    cells = cells if run else None
    if cells == []:
        raise ValueError(f"{notebook.name}: no cells to run; pass cells=None for all")
    report = NotebookReport(
        name=screenshot_name or notebook.stem,
        ran=run,
        cells_run=None if cells is None else len(cells),
    )
    scratch = server.root.resolve() / "notebooks" / (SCRATCH_PREFIX + notebook.name)
    write_scratch_copy(notebook, scratch, cells)
    relative = scratch.relative_to(server.root.resolve()).as_posix()
    if shared:
        page, fresh = _lab_page(context, server)
    else:
        page, fresh = context.new_page(), True
    opened = OpenNotebook(
        report, page, scratch, relative, shared, time.monotonic(), context=context
    )

    def on_console(message):
        if message.type == "error":
            opened.console_errors.append(message.text)

    opened.on_console = on_console
    page.on("console", on_console)
    _RUNNING.add(relative)
    try:
        page.set_viewport_size(VIEWPORT)
        if fresh:
            page.goto(server.lab_url(relative), wait_until="domcontentloaded")
        else:
            page.evaluate(OPEN_JS, relative)
        page.wait_for_function(
            NOTEBOOK_READY_JS, arg=[relative, run], timeout=120_000, polling=200
        )
        if run:
            page.evaluate(START_RUN_JS, cells)
        opened.opened = True
    except Exception as error:
        report.problems.append(f"browser check failed: {type(error).__name__}: {error}")
    return opened


def check_notebook(
    context,
    server: LabServer,
    notebook: Path,
    screenshot_dir: Path,
    run_timeout: float = RUN_TIMEOUT_SECONDS,
    render_timeout: float = 60.0,
    screenshot_name: str | None = None,
    slider_timeout: float = SLIDER_RESPONSE_SECONDS,
    run: bool = True,
    started: OpenNotebook | None = None,
    cells: list[int] | None = None,
) -> NotebookReport:
    """Run (or only render) one notebook in the browser and report every problem.

    The notebook is copied to ``notebooks/_browser_<name>`` under the server's
    root (git-ignored scratch, where ``course_lib`` resolves the repository's
    paths as for a course notebook), so the committed file is never modified.
    One JupyterLab page per server serves one notebook after another (loading
    JupyterLab takes seconds); after a check that found a problem, the next
    notebook gets a freshly loaded page.

    Args:
        context: The Playwright browser context from ``launch_chromium``.
        server: A started ``LabServer`` whose root holds ``notebook``.
        notebook: The notebook to check.
        screenshot_dir: Where ``<notebook stem>.png`` is written.
        run_timeout: Seconds allowed for running all cells.
        render_timeout: Seconds allowed for widgets and images to appear.
        screenshot_name: The screenshot's file stem; the notebook's by default.
        slider_timeout: Seconds a slider-driven widget may take to redraw.
        run: Run all cells in the page's kernel (``True``), or only open the
            notebook and check that its saved outputs render (``False``: for a
            notebook whose outputs need no live kernel, see ``needs_kernel``).
        started: The same notebook, already opened (and, with ``run``, started)
            by ``start_notebook``; ``None`` opens it here.
        cells: Run only these cells: see ``start_notebook``.

    Returns:
        The ``NotebookReport``; its ``problems`` list is empty when all is well.
    """
    if started is None:
        started = start_notebook(
            context, server, notebook, run, screenshot_name, cells=cells
        )
    report, page, relative = started.report, started.page, started.relative
    if not started.opened:  # start_notebook has said why.
        close_notebook(started, server)
        return report
    healthy = False
    try:
        run_state = None
        if run:
            try:
                page.wait_for_function(
                    RUN_ALL_FINISHED_JS, timeout=run_timeout * 1000, polling=250
                )
            except Exception as error:  # Playwright's TimeoutError
                report.problems.append(
                    f"run-all did not finish within {run_timeout:.0f} s ({error})"
                )
            run_state = page.evaluate(SAVE_JS)
        saved = server.api("GET", f"/api/contents/{relative}?content=1")["content"]
        expected = model_outputs(saved)
        check_model(report, expected, run_state)
        check_widget_state(report, saved)
        rendered = _wait_for_rendering(page, expected, render_timeout)
        compare_rendering(report, rendered, expected)
        if run and _exercise_sliders(page, report, slider_timeout):
            page.evaluate(SAVE_JS)
            saved = server.api("GET", f"/api/contents/{relative}?content=1")["content"]
            check_widget_state(report, saved)
        report.screenshot = _screenshot(
            page, screenshot_dir / f"{screenshot_name or Path(notebook).stem}.png"
        )
        healthy = True
    except Exception as error:
        report.problems.append(f"browser check failed: {type(error).__name__}: {error}")
    finally:
        close_notebook(started, server, keep_page=healthy and not report.problems)
    return report


def close_notebook(opened: OpenNotebook, server: LabServer, keep_page=False) -> None:
    """Close a notebook from ``start_notebook``, stop its kernel, remove its copy.

    Args:
        opened: The notebook.
        server: Its ``LabServer``.
        keep_page: Keep the shared page for the next notebook (only when the
            check found nothing wrong).
    """
    report, page = opened.report, opened.page
    page.remove_listener("console", opened.on_console)
    if report.problems and opened.console_errors:
        report.problems.append(
            "browser console errors: " + " | ".join(opened.console_errors[-5:])[:1500]
        )
    if opened.shared:
        _release_lab_page(page, opened.context, server, keep=keep_page)
    elif not page.is_closed():
        page.close()
    _RUNNING.discard(opened.relative)
    server.shutdown_kernels(keep_paths=_RUNNING)
    opened.scratch.unlink(missing_ok=True)
    report.seconds = time.monotonic() - opened.started


# One JupyterLab page per (browser context, server), reused from notebook to notebook.
_LAB_PAGES: dict[tuple[int, str, str], object] = {}


def _lab_page(context, server: LabServer):
    """Return the server's open JupyterLab page, or a new blank page.

    Args:
        context: The Playwright browser context.
        server: The ``LabServer`` the page shows.

    Returns:
        ``(page, fresh)``: ``fresh`` is ``True`` for a new page, which must load
        JupyterLab; an open page only opens the next notebook.
    """
    key = (id(context), server.base_url, server.token)
    page = _LAB_PAGES.get(key)
    if page is not None and not page.is_closed():
        return page, False
    page = context.new_page()
    _LAB_PAGES[key] = page
    return page, True


def _release_lab_page(page, context, server: LabServer, keep: bool) -> None:
    """Close the notebook; keep the page for the next one only if all went well.

    A page where anything went wrong (a problem found, a timeout, a crash) is
    closed, so that the next notebook starts from a freshly loaded JupyterLab.

    Args:
        page: The page ``_lab_page`` returned.
        context: The Playwright browser context.
        server: The ``LabServer`` the page shows.
        keep: Whether the check found nothing wrong.
    """
    key = (id(context), server.base_url, server.token)
    if keep:
        try:
            page.evaluate(CLOSE_ALL_JS)
            return
        except Exception:  # Playwright's Error: the page is gone.
            pass
    _LAB_PAGES.pop(key, None)
    if not page.is_closed():
        page.close()


def _exercise_sliders(
    page, report: NotebookReport, timeout: float, limit: int = 3
) -> bool:
    """Nudge the first slider of up to ``limit`` widgets; their image must change.

    This proves the widget is live, not only drawn: the key press travels to the
    kernel, the callback runs, and the new image comes back to the page.

    Returns:
        Whether any widget was exercised (so the widget state is worth re-reading).
    """
    candidates = page.evaluate(MARK_SLIDER_WIDGETS_JS)[:limit]
    for candidate in candidates:
        view = page.locator(f'[data-course-widget="{candidate["marker"]}"]')
        before = view.evaluate(IMAGE_SOURCES_JS)
        handle = view.locator(".noUi-handle").first
        handle.scroll_into_view_if_needed()
        handle.focus()
        value = handle.get_attribute("aria-valuenow")
        page.keyboard.press("ArrowRight")
        if handle.get_attribute("aria-valuenow") == value:
            page.keyboard.press("ArrowLeft")  # The slider was at its maximum.
        try:
            page.wait_for_function(
                IMAGES_CHANGED_JS,
                arg=[candidate["marker"], before],
                timeout=timeout * 1000,
                polling=250,
            )
            report.widgets_exercised += 1
        except Exception:  # Playwright's TimeoutError
            report.problems.append(
                f"cell {candidate['cell']}: moving the widget's first slider did "
                f"not change its image within {timeout:.0f} s"
            )
    return bool(candidates)


def _wait_for_rendering(page, expected, render_timeout: float):
    deadline = time.monotonic() + render_timeout
    while True:
        rendered = page.evaluate(RENDERED_OUTPUTS_JS, WIDGET_VIEW_MIME)
        if rendering_settled(rendered) or time.monotonic() > deadline:
            return rendered
        time.sleep(0.2)


def _screenshot(page, path: Path) -> Path:
    """Save the whole notebook (not just the window) as PNG files.

    A notebook taller than ``MAX_SCREENSHOT_HEIGHT`` continues in
    ``<stem>-2.png``, ``<stem>-3.png`` and so on.

    Returns:
        The first file, ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f"{path.stem}-[0-9]*.png"):
        stale.unlink()
    notebook_height = page.evaluate(PREPARE_SCREENSHOT_JS)
    height = min(max(notebook_height + 150, VIEWPORT["height"]), MAX_SCREENSHOT_HEIGHT)
    page.set_viewport_size({"width": VIEWPORT["width"], "height": int(height)})
    page.evaluate(NEXT_FRAME_JS)
    page.wait_for_timeout(250)
    page.screenshot(path=str(path))
    visible = page.evaluate(SCROLL_NOTEBOOK_JS, 0)["visible"]
    offset, part = 0, 2
    while offset + visible < notebook_height:
        offset += visible - 100  # Overlap a little, so no line is cut in two.
        page.evaluate(SCROLL_NOTEBOOK_JS, offset)
        page.evaluate(NEXT_FRAME_JS)
        page.screenshot(path=str(path.with_name(f"{path.stem}-{part}.png")))
        part += 1
    page.set_viewport_size(VIEWPORT)
    return path
