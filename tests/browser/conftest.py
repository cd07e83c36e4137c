"""Shared fixtures for the browser test: one JupyterLab server, one Chromium.

Run with ``make browser-tests`` (or ``pytest -p no:xdist tests/browser``). The
unit-test run leaves this folder out; these tests need Chromium and minutes.
"""

import tempfile
from pathlib import Path

import pytest
from lab_server import REPO_ROOT, LabServer, launch_chromium, missing_requirements
from notebook_check import SCRATCH_PREFIX

SCREENSHOT_DIR = REPO_ROOT / "build" / "screenshots"
REPORTS = []  # NotebookReport objects, summarised at the end of the run.


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "browser: runs notebooks in JupyterLab in headless Chromium"
    )


@pytest.fixture(scope="session")
def browser_requirements():
    """Skip (never pass) when Playwright or Chromium is missing."""
    reason = missing_requirements()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def lab_server(browser_requirements):
    """One JupyterLab server for the whole run."""
    for stale in (REPO_ROOT / "notebooks").glob(SCRATCH_PREFIX + "*.ipynb"):
        stale.unlink()
    with LabServer(REPO_ROOT) as server:
        yield server


@pytest.fixture(scope="session")
def browser_context(browser_requirements):
    """One headless Chromium (Debian's) with a fresh, empty profile."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="course-chromium-") as profile:
        with sync_playwright() as playwright:
            context = launch_chromium(playwright, Path(profile))
            yield context
            context.close()


@pytest.fixture(scope="session")
def screenshot_dir():
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR


@pytest.fixture
def record_report():
    """Keep a report for the summary printed at the end of the run."""
    return REPORTS.append


def pytest_terminal_summary(terminalreporter):
    if not REPORTS:
        return
    terminalreporter.section("notebooks in the browser")
    total = sum(report.seconds for report in REPORTS)
    lines = [report.summary() for report in REPORTS]
    lines.append(f"total browser time: {total:.0f} s")
    for line in lines:
        terminalreporter.write_line(line)
    # The same lines beside the screenshots, for CI artifacts.
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    (SCREENSHOT_DIR / "browser_report.txt").write_text("\n".join(lines) + "\n")
