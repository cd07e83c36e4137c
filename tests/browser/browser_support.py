"""Run a notebook in JupyterLab inside headless Chromium and report what went wrong.

The browser test (tests/browser/test_browser.py) uses three pieces from here:

- ``missing_requirements()`` says why the test cannot run (no Playwright, no
  Chromium), so that the test is skipped with that reason instead of passing;
- ``LabServer`` starts one JupyterLab on 127.0.0.1 with a random port and token;
- ``check_notebook()`` copies a notebook to a scratch name, opens it in the
  browser, runs all cells, saves it, and returns a ``NotebookReport``;
  ``start_notebook()`` does its first half (open, start the run), so that
  several notebooks can run side by side before each is checked.

Errors and execution counts are read from the saved notebook model (JupyterLab's
contents API), never from the page. Widgets and images are checked in the page,
cell by cell, against the outputs the model says each cell has.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_PATH = Path(os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium"))
# Offline and as root, Chromium needs all of these: no sandbox as root, no GPU, and
# no background connections (a closed network refuses them, many at a time).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Containers often give /dev/shm only 64 MB; tabs then crash. Use /tmp instead.
    "--disable-dev-shm-usage",
]
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
WIDGET_MANAGER_EXTENSION = "@jupyter-widgets/jupyterlab-manager"
SCRATCH_PREFIX = "_browser_"
VIEWPORT = {"width": 1280, "height": 900}
# Seconds allowed for one notebook's run-all; quick-profile notebooks need ~1 min.
RUN_TIMEOUT_SECONDS = float(os.environ.get("COURSE_BROWSER_RUN_TIMEOUT", "420"))
# Seconds a slider-driven widget may take to redraw its image after a key press.
SLIDER_RESPONSE_SECONDS = 30
# Chromium refuses screenshots much taller than 16,384 pixels.
MAX_SCREENSHOT_HEIGHT = 12000

# JupyterLab settings for a quiet, offline, fully rendered notebook: no news or
# update checks (no network); no windowing, so every cell's outputs are in the
# page and can be checked; widget state saved into the notebook, so that errors
# inside Output widgets (say, an interact() callback that raised) are in the model.
LAB_SETTINGS = {
    "@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings": {
        "saveState": True,
    },
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "checkForUpdates": False,
        "fetchNews": "false",
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none",
        "scrollPastEnd": False,
    },
}


def missing_requirements() -> str | None:
    """Return why the browser test cannot run here, or ``None`` when it can.

    Returns:
        A sentence naming what is missing and how to install it, or ``None``.
    """
    if importlib.util.find_spec("playwright") is None:
        return (
            "Playwright for Python is not installed: "
            "pip install -e '.[dev]' (never `playwright install`)"
        )
    if not (CHROMIUM_PATH.is_file() and os.access(CHROMIUM_PATH, os.X_OK)):
        return (
            f"Chromium not found at {CHROMIUM_PATH}: apt-get install -y chromium "
            "(or set COURSE_CHROMIUM to its path)"
        )
    return None


def course_notebooks(root: Path = REPO_ROOT) -> list[Path]:
    """Return the course notebooks, ``notebooks/NN_*.ipynb``, in order.

    Args:
        root: The repository root.

    Returns:
        The sorted notebook paths; scratch notebooks (``_`` prefix) are left out.
    """
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def needs_kernel(notebook: Path) -> bool:
    """Whether a notebook's saved outputs include widgets, which need a live kernel.

    The others' saved outputs (text, PNG figures, errors) render without one, so
    the browser pass only opens them; nbval has already run every cell.

    Args:
        notebook: A notebook file.

    Returns:
        ``True`` if any saved output is an ipywidgets view.
    """
    cells = json.loads(Path(notebook).read_text())["cells"]
    return any(
        WIDGET_VIEW_MIME in output.get("data", {})
        for cell in cells
        for output in cell.get("outputs", [])
    )


def _die_with_parent() -> None:
    """Ask Linux to stop the server if the test process dies (an outer timeout)."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LabServer:
    """One JupyterLab server on 127.0.0.1, with a random port and token.

    Kernels inherit its environment: ``COURSE_PROFILE=quick`` and
    ``COURSE_OFFLINE=1``. Jupyter's configuration, runtime, settings and
    workspace folders are fresh temporary folders, so nothing on the machine
    changes what the test sees and the test leaves nothing behind.

    Args:
        root: The folder JupyterLab serves (the repository root, so that
            ``course_lib`` finds ``data/`` from a notebook in ``notebooks/``).
        disabled_extensions: JupyterLab extensions to switch off, for example
            the widget manager, to prove that the checker notices.
        startup_timeout: Seconds to wait for the server to answer.
    """

    def __init__(
        self,
        root: Path = REPO_ROOT,
        disabled_extensions: tuple[str, ...] = (),
        startup_timeout: float = 90.0,
    ):
        self.root = Path(root)
        self.port = _free_port()
        self.token = secrets.token_hex(24)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._scratch = Path(tempfile.mkdtemp(prefix="course-browser-lab-"))
        self._disabled = disabled_extensions
        self._startup_timeout = startup_timeout
        self.log_path = self._scratch / "jupyterlab.log"
        self._process: subprocess.Popen | None = None

    def _environment(self) -> dict[str, str]:
        environment = dict(os.environ)
        environment.pop("MPLBACKEND", None)  # Kernels must use the inline backend.
        environment.update(
            COURSE_PROFILE="quick",
            COURSE_OFFLINE="1",
            PYTHONUNBUFFERED="1",
            JUPYTER_CONFIG_DIR=str(self._scratch / "config"),
            JUPYTER_RUNTIME_DIR=str(self._scratch / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(self._scratch / "settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(self._scratch / "workspaces"),
        )
        return environment

    def _write_settings(self) -> None:
        for relative, values in LAB_SETTINGS.items():
            path = self._scratch / "settings" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        page_config = self._scratch / "config" / "labconfig" / "page_config.json"
        page_config.parent.mkdir(parents=True, exist_ok=True)
        disabled = {name: True for name in self._disabled}
        page_config.write_text(json.dumps({"disabledExtensions": disabled}))

    def start(self) -> LabServer:
        """Start JupyterLab and wait until its REST API answers.

        Returns:
            The server itself.
        """
        self._write_settings()
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--port-retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--LabApp.expose_app_in_browser=True",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")
        log = open(self.log_path, "w")  # Closed in stop().
        self._process = subprocess.Popen(
            command,
            cwd=self.root,
            env=self._environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self._log = log
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"JupyterLab exited with code {self._process.returncode}:\n"
                    + self.log_tail()
                )
            try:
                self.api("GET", "/api/status")
                return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.5)
        self.stop()
        raise RuntimeError("JupyterLab did not answer in time:\n" + self.log_tail())

    def stop(self) -> None:
        """Stop the server (and with it every kernel) and remove its folders."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None
        shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def log_tail(self, characters: int = 3000) -> str:
        """Return the end of the server's log."""
        try:
            return self.log_path.read_text(errors="replace")[-characters:]
        except OSError:
            return "(no log)"

    def api(self, method: str, path: str):
        """Call the server's REST API with the token and return the decoded JSON.

        Args:
            method: ``"GET"`` or ``"DELETE"``.
            path: For example ``"/api/contents/notebooks/x.ipynb?content=1"``.

        Returns:
            The decoded JSON body, or ``None`` for an empty one.
        """
        request = urllib.request.Request(
            self.base_url + path,
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def lab_url(self, relative_path: str) -> str:
        """Return the address that opens a file in JupyterLab, token included."""
        return f"{self.base_url}/lab/tree/{relative_path}?reset&token={self.token}"

    def shutdown_kernels(self, keep_paths=()) -> None:
        """Shut down the running kernels (between notebooks, to free memory).

        Args:
            keep_paths: Notebook paths (relative to the root) whose kernels stay:
                notebooks still running in another page.
        """
        kept = {
            session["kernel"]["id"]
            for session in self.api("GET", "/api/sessions") or []
            if session.get("path") in keep_paths and session.get("kernel")
        }
        for kernel in self.api("GET", "/api/kernels") or []:
            if kernel["id"] in kept:
                continue
            try:
                self.api("DELETE", f"/api/kernels/{kernel['id']}")
            except urllib.error.HTTPError:
                pass


def launch_chromium(playwright, user_data_dir: Path):
    """Start Debian's Chromium through Playwright, never a downloaded browser.

    Args:
        playwright: The object ``sync_playwright().start()`` returns.
        user_data_dir: A fresh, empty folder for Chromium's profile.

    Returns:
        A Playwright ``BrowserContext``.
    """
    return playwright.chromium.launch_persistent_context(
        str(user_data_dir),
        executable_path=str(CHROMIUM_PATH),
        headless=True,
        args=CHROMIUM_FLAGS,
        viewport=VIEWPORT,
    )


@dataclass
class NotebookReport:
    """What one notebook did in the browser. ``problems`` empty means it passed."""

    name: str
    ran: bool = True
    seconds: float = 0.0
    code_cells: int = 0
    executed_cells: int = 0
    error_outputs: int = 0
    widget_outputs: int = 0
    widgets_rendered: int = 0
    png_outputs: int = 0
    images_rendered: int = 0
    widget_images_rendered: int = 0
    widgets_exercised: int = 0
    screenshot: Path | None = None
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Return a one-line summary for the test log."""
        status = "ok" if not self.problems else f"{len(self.problems)} problem(s)"
        return (
            f"{self.name}: {status} in {self.seconds:.0f} s; "
            f"{self.executed_cells}/{self.code_cells} code cells "
            f"{'ran' if self.ran else 'had run (saved outputs opened)'}, "
            f"{self.error_outputs} error outputs, "
            f"widgets {self.widgets_rendered}/{self.widget_outputs} rendered, "
            f"images {self.images_rendered}/{self.png_outputs} rendered "
            f"(+{self.widget_images_rendered} inside widgets), "
            f"{self.widgets_exercised} slider-driven widget(s) responded"
        )


# JavaScript run in the page. `window.jupyterapp` exists because the server runs
# with --LabApp.expose_app_in_browser=True.
# `needKernel` false is the render-only check: the saved outputs need no kernel, so
# only the notebook's model and every cell's view must be there.
_NOTEBOOK_READY_JS = """([path, needKernel]) => {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  if (!panel || !panel.context || !panel.sessionContext || !panel.context.isReady) {
    return false;
  }
  if (panel.context.path !== path) {
    return false;
  }
  if (!needKernel) {
    const cells = panel.content.model && panel.content.model.cells;
    return Boolean(cells) && panel.content.widgets.length === cells.length;
  }
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return Boolean(kernel) && kernel.status === 'idle';
}"""

# Open a notebook in a JupyterLab page that is already loaded (one page serves
# every notebook of a server: loading JupyterLab itself takes seconds).
_OPEN_JS = """(path) => {
  window.jupyterapp.commands.execute('docmanager:open', {path: path});
}"""

# Close every document without a "save changes?" dialog; the next one opens alone.
_CLOSE_ALL_JS = """() => {
  const app = window.jupyterapp;
  for (const widget of Array.from(app.shell.widgets('main'))) {
    if (widget.context && widget.context.model) {
      widget.context.model.dirty = false;
    }
    widget.dispose();
  }
}"""

# Two animation frames: the page has laid itself out again (after a resize or a
# scroll) and painted, which is what a screenshot needs.
_NEXT_FRAME_JS = """() => new Promise(
  (resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))"""

_START_RUN_ALL_JS = """() => {
  window.__courseRunAll = {done: false};
  window.jupyterapp.commands.execute('notebook:run-all-cells').then(
    (ok) => { window.__courseRunAll = {done: true, ok: Boolean(ok)}; },
    (error) => {
      window.__courseRunAll = {done: true, ok: false, error: String(error)};
    }
  );
}"""

_RUN_ALL_FINISHED_JS = """() => {
  const state = window.__courseRunAll;
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return Boolean(state && state.done && kernel && kernel.status === 'idle');
}"""

_SAVE_JS = """async () => {
  const panel = window.jupyterapp.shell.currentWidget;
  await panel.context.save();
  return window.__courseRunAll;
}"""

# For every code cell, each output as the page shows it. An output's index in the
# cell's output model is its index among the output area's children.
_RENDERED_OUTPUTS_JS = """(widgetMime) => {
  const panel = window.jupyterapp.shell.currentWidget;
  return panel.content.widgets.map((cell) => {
    if (cell.model.type !== 'code') {
      return null;
    }
    const area = cell.outputArea;
    const outputs = [];
    for (let index = 0; index < area.model.length; index++) {
      const data = area.model.get(index).data || {};
      const child = area.widgets[index];
      const node = child
        ? child.node.querySelector('.jp-OutputArea-output') || child.node
        : null;
      const text = node ? node.textContent.slice(0, 200) : '';
      const allImages = node ? Array.from(node.querySelectorAll('img')) : [];
      const images = allImages.filter(
        (image) => image.src.startsWith('data:image/png'));
      const loaded = (image) => image.complete && image.naturalWidth > 0;
      outputs.push({
        widget: widgetMime in data && Boolean(data[widgetMime].model_id),
        png: 'image/png' in data,
        // A rendered widget view is a `.jupyter-widgets` element inside the
        // output. On failure the output says "Error displaying widget" (no
        // model, or no view), or ipywidgets shows its error view in place of a
        // widget whose JavaScript module failed ("Click to show javascript error").
        hasView: Boolean(node && node.querySelector('.jupyter-widgets')),
        failed: text.includes('Error displaying widget')
          ? 'Error displaying widget'
          : node && node.querySelector('.jupyter-widgets-error-widget')
            ? 'ipywidgets error view (a widget failed to load)'
            : '',
        loading: text.startsWith('Loading widget'),
        text: text,
        imageLoaded: images.some(loaded),
        // Images inside widget views (ipywidgets.Image, plots in Output widgets).
        widgetImages: widgetMime in data ? allImages.length : 0,
        widgetImagesLoaded: widgetMime in data ? allImages.filter(loaded).length : 0,
      });
    }
    return outputs;
  });
}"""

_PREPARE_SCREENSHOT_JS = """() => {
  const app = window.jupyterapp;
  app.shell.collapseLeft();
  app.shell.collapseRight();
  const panel = app.shell.currentWidget;
  // The notebook scrolls inside its own element, not the page: make the window
  // as tall as that element's content so that one screenshot holds it all.
  const scroller =
    panel.content.node.querySelector('.jp-WindowedPanel-outer') || panel.content.node;
  scroller.scrollTop = 0;
  return scroller.scrollHeight;
}"""


_SCROLL_NOTEBOOK_JS = """(offset) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const scroller =
    panel.content.node.querySelector('.jp-WindowedPanel-outer') || panel.content.node;
  scroller.scrollTop = offset;
  return {visible: scroller.clientHeight};
}"""


def _model_outputs(notebook: dict) -> list[dict | None]:
    """Per cell of the saved model: what a code cell ran and output, else None."""
    summary = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            summary.append(None)
            continue
        outputs = cell.get("outputs", [])
        widget_ids = [
            output["data"][WIDGET_VIEW_MIME].get("model_id", "")
            for output in outputs
            if WIDGET_VIEW_MIME in output.get("data", {})
        ]
        summary.append(
            {
                "source": "".join(cell["source"]).strip(),
                "executed": cell.get("execution_count") is not None,
                "errors": [
                    f"{output.get('ename')}: {output.get('evalue')}"
                    for output in outputs
                    if output.get("output_type") == "error"
                ],
                "widgets": [model_id for model_id in widget_ids if model_id],
                "pngs": sum(
                    "image/png" in output.get("data", {}) for output in outputs
                ),
            }
        )
    return summary


def _rendering_settled(rendered: list[list[dict] | None]) -> bool:
    """Return whether every widget finished loading and every image decoded."""
    for outputs in rendered:
        for output in outputs or []:
            if output["widget"] and output["loading"]:
                return False
            if output["png"] and not output["imageLoaded"]:
                return False
            if output["widgetImagesLoaded"] < output["widgetImages"]:
                return False
    return True


def _compare_rendering(
    report: NotebookReport,
    rendered: list[list[dict] | None],
    expected: list[dict | None],
) -> None:
    """Check the page against the saved model, cell by cell."""
    if len(rendered) != len(expected):
        report.problems.append(
            f"the page shows {len(rendered)} cells, the saved model has {len(expected)}"
        )
        return
    for index, (outputs, wanted) in enumerate(zip(rendered, expected, strict=True)):
        if wanted is None or outputs is None:
            continue
        label = f"cell {index}"
        widgets = [output for output in outputs if output["widget"]]
        if len(widgets) != len(wanted["widgets"]):
            report.problems.append(
                f"{label}: {len(wanted['widgets'])} widget output(s) in the saved "
                f"model but {len(widgets)} in the page"
            )
        for widget in widgets:
            report.widget_images_rendered += widget["widgetImagesLoaded"]
            if widget["widgetImagesLoaded"] < widget["widgetImages"]:
                report.problems.append(
                    f"{label}: an image inside a widget did not load"
                )
            if widget["hasView"] and not widget["failed"]:
                report.widgets_rendered += 1
            else:
                reason = widget["failed"] or "no widget view (widget extension loaded?)"
                report.problems.append(
                    f"{label}: widget not rendered: {reason}; "
                    f"the page shows {widget['text']!r}"
                )
        images = [output for output in outputs if output["png"]]
        report.images_rendered += sum(image["imageLoaded"] for image in images)
        if len(images) != wanted["pngs"]:
            report.problems.append(
                f"{label}: {wanted['pngs']} PNG output(s) in the saved model but "
                f"{len(images)} in the page"
            )
        if not all(image["imageLoaded"] for image in images):
            report.problems.append(f"{label}: a PNG output did not load as an image")


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

    Returns:
        The ``OpenNotebook``; a failure to open it is in its report's problems.
    """
    notebook = Path(notebook).resolve()
    report = NotebookReport(name=screenshot_name or notebook.stem, ran=run)
    scratch = server.root.resolve() / "notebooks" / (SCRATCH_PREFIX + notebook.name)
    shutil.copyfile(notebook, scratch)
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
            page.evaluate(_OPEN_JS, relative)
        page.wait_for_function(
            _NOTEBOOK_READY_JS, arg=[relative, run], timeout=120_000, polling=200
        )
        if run:
            page.evaluate(_START_RUN_ALL_JS)
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

    Returns:
        The ``NotebookReport``; its ``problems`` list is empty when all is well.
    """
    if started is None:
        started = start_notebook(context, server, notebook, run, screenshot_name)
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
                    _RUN_ALL_FINISHED_JS, timeout=run_timeout * 1000, polling=250
                )
            except Exception as error:  # Playwright's TimeoutError
                report.problems.append(
                    f"run-all did not finish within {run_timeout:.0f} s ({error})"
                )
            run_state = page.evaluate(_SAVE_JS)
        saved = server.api("GET", f"/api/contents/{relative}?content=1")["content"]
        expected = _model_outputs(saved)
        _check_model(report, expected, run_state)
        _check_widget_state(report, saved)
        rendered = _wait_for_rendering(page, expected, render_timeout)
        _compare_rendering(report, rendered, expected)
        if run and _exercise_sliders(page, report, slider_timeout):
            page.evaluate(_SAVE_JS)
            saved = server.api("GET", f"/api/contents/{relative}?content=1")["content"]
            _check_widget_state(report, saved)
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
            page.evaluate(_CLOSE_ALL_JS)
            return
        except Exception:  # Playwright's Error: the page is gone.
            pass
    _LAB_PAGES.pop(key, None)
    if not page.is_closed():
        page.close()


def _check_model(
    report: NotebookReport, expected: list[dict | None], run_state: dict | None
) -> None:
    """Check the saved model: every code cell ran, and none output an error."""
    for index, cell in enumerate(expected):
        if cell is None or not cell["source"]:
            continue
        report.code_cells += 1
        report.executed_cells += cell["executed"]
        report.widget_outputs += len(cell["widgets"])
        report.png_outputs += cell["pngs"]
        if not cell["executed"]:
            report.problems.append(f"cell {index} did not run")
        for error in cell["errors"]:
            report.error_outputs += 1
            report.problems.append(f"cell {index} output an error: {error[:300]}")
    if run_state and run_state.get("done") and not run_state.get("ok"):
        report.problems.append(
            "JupyterLab's run-all reported a failure"
            + (f": {run_state['error']}" if run_state.get("error") else "")
        )


def _check_widget_state(report: NotebookReport, notebook: dict) -> None:
    """Check the saved widget state: no Output widget holds an error output.

    An exception in a widget callback (an ``interact()`` function, say) is shown
    inside the widget, not in the cell's outputs.
    """
    state = notebook["metadata"].get("widgets", {}).get(WIDGET_STATE_MIME, {})
    for model_id, model in state.get("state", {}).items():
        for output in model.get("state", {}).get("outputs", []) or []:
            if isinstance(output, dict) and output.get("output_type") == "error":
                problem = (
                    f"widget {model_id[:8]} ({model.get('model_name')}) shows an "
                    f"error: {output.get('ename')}: {str(output.get('evalue'))[:300]}"
                )
                if problem not in report.problems:  # Checked again after sliding.
                    report.error_outputs += 1
                    report.problems.append(problem)


# Mark each top-level widget view that holds both a slider and an image (an
# explorer, an interact() plot) and return the markers with their cells.
_MARK_SLIDER_WIDGETS_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const found = [];
  panel.content.widgets.forEach((cell, cellIndex) => {
    if (cell.model.type !== 'code') {
      return;
    }
    const views = cell.outputArea.node.querySelectorAll(
      '.jp-OutputArea-output > .jupyter-widgets');
    for (const view of views) {
      const topLevel = view.parentElement.closest('.jupyter-widgets') === null;
      if (topLevel && view.querySelector('.noUi-handle') && view.querySelector('img')) {
        const marker = `course-widget-${found.length}`;
        view.setAttribute('data-course-widget', marker);
        found.push({marker: marker, cell: cellIndex});
      }
    }
  });
  return found;
}"""

_IMAGE_SOURCES_JS = """(element) => Array.from(element.querySelectorAll('img')).map(
  (image) => image.complete && image.naturalWidth > 0 ? image.src : 'loading')"""

_IMAGES_CHANGED_JS = """([marker, before]) => {
  const view = document.querySelector(`[data-course-widget="${marker}"]`);
  const images = Array.from(view.querySelectorAll('img'));
  const now = images.map(
    (image) => image.complete && image.naturalWidth > 0 ? image.src : 'loading');
  return !now.includes('loading') && JSON.stringify(now) !== JSON.stringify(before);
}"""


def _exercise_sliders(
    page, report: NotebookReport, timeout: float, limit: int = 3
) -> bool:
    """Nudge the first slider of up to ``limit`` widgets; their image must change.

    This proves the widget is live, not only drawn: the key press travels to the
    kernel, the callback runs, and the new image comes back to the page.

    Returns:
        Whether any widget was exercised (so the widget state is worth re-reading).
    """
    candidates = page.evaluate(_MARK_SLIDER_WIDGETS_JS)[:limit]
    for candidate in candidates:
        view = page.locator(f'[data-course-widget="{candidate["marker"]}"]')
        before = view.evaluate(_IMAGE_SOURCES_JS)
        handle = view.locator(".noUi-handle").first
        handle.scroll_into_view_if_needed()
        handle.focus()
        value = handle.get_attribute("aria-valuenow")
        page.keyboard.press("ArrowRight")
        if handle.get_attribute("aria-valuenow") == value:
            page.keyboard.press("ArrowLeft")  # The slider was at its maximum.
        try:
            page.wait_for_function(
                _IMAGES_CHANGED_JS,
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
        rendered = page.evaluate(_RENDERED_OUTPUTS_JS, WIDGET_VIEW_MIME)
        if _rendering_settled(rendered) or time.monotonic() > deadline:
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
    notebook_height = page.evaluate(_PREPARE_SCREENSHOT_JS)
    height = min(max(notebook_height + 150, VIEWPORT["height"]), MAX_SCREENSHOT_HEIGHT)
    page.set_viewport_size({"width": VIEWPORT["width"], "height": int(height)})
    page.evaluate(_NEXT_FRAME_JS)
    page.wait_for_timeout(250)
    page.screenshot(path=str(path))
    visible = page.evaluate(_SCROLL_NOTEBOOK_JS, 0)["visible"]
    offset, part = 0, 2
    while offset + visible < notebook_height:
        offset += visible - 100  # Overlap a little, so no line is cut in two.
        page.evaluate(_SCROLL_NOTEBOOK_JS, offset)
        page.evaluate(_NEXT_FRAME_JS)
        page.screenshot(path=str(path.with_name(f"{path.stem}-{part}.png")))
        part += 1
    page.set_viewport_size(VIEWPORT)
    return path
