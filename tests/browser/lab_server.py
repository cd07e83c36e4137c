"""Start what the browser test runs in: one JupyterLab server and one Chromium.

- ``missing_requirements()`` says why the test cannot run (no Playwright, no
  Chromium), so that the test is skipped with that reason instead of passing;
- ``LabServer`` starts one JupyterLab on 127.0.0.1 with a random port and token;
- ``launch_chromium()`` starts Debian's Chromium through Playwright.
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
WIDGET_MANAGER_EXTENSION = "@jupyter-widgets/jupyterlab-manager"
VIEWPORT = {"width": 1280, "height": 900}

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

    Kernels inherit its environment: ``COURSE_PROFILE=quick``,
    ``COURSE_OFFLINE=1`` and a checkpoint folder of their own. Jupyter's
    configuration, runtime, settings and workspace folders are fresh temporary
    folders, so nothing on the machine changes what the test sees and the test
    leaves nothing behind.

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
            # Its own checkpoints: nbval trains the same quick models beside it.
            COURSE_CHECKPOINTS=str(self._scratch / "checkpoints"),
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
