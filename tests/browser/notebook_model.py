"""Read notebooks' saved models, and check the page against them in a report.

``course_notebooks()`` lists the course notebooks, ``needs_kernel()`` says which
need a live kernel, and ``widget_cells()`` which of their cells the widgets need.
Errors and execution counts are read from the saved notebook model (JupyterLab's
contents API), never from the page. Widgets and images are
checked in the page, cell by cell, against the outputs the model says each cell
has: the page's side arrives as the data ``RENDERED_OUTPUTS_JS`` (in
``lab_scripts``) returns, so nothing here drives the browser. What was found goes
into a ``NotebookReport``.
"""

from __future__ import annotations

import ast
import builtins
import json
from dataclasses import dataclass, field
from pathlib import Path

from lab_server import REPO_ROOT

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"


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


def widget_cells(notebook: Path) -> list[int] | None:
    """The code cells a notebook's widgets need: their own and those they depend on.

    A backward slice by name: start from the names the widget cells read, and
    walk up the notebook; a cell that binds one of those names (an assignment,
    an import, a ``def``) is needed, and what it reads is needed in turn. A
    notebook runs top to bottom, so the last binding above a use is the one
    that counts. This misses a dependency made by mutation alone (a cell that
    only calls a method on an object), so the browser run itself is the check:
    a missing cell shows up as a ``NameError`` or a widget that does not respond.

    Args:
        notebook: A notebook file.

    Returns:
        The needed cells' indices in the notebook (all cells, not only code), in
        order; ``None`` if a code cell cannot be parsed, so that all must run.
    """
    cells = json.loads(Path(notebook).read_text())["cells"]
    parsed = {}
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).splitlines()
        # IPython magics and shell escapes are not Python.
        code = "\n".join(
            "" if line.lstrip().startswith(("%", "!")) else line for line in lines
        )
        try:
            parsed[index] = _bound_and_read(ast.parse(code))
        except SyntaxError:
            return None
    widget_indices = sorted(
        {
            index
            for index, cell in enumerate(cells)
            for output in cell.get("outputs", [])
            if WIDGET_VIEW_MIME in output.get("data", {})
        }
    )
    if not widget_indices:
        return []
    needed_names: set[str] = set()
    needed_cells = set(widget_indices)
    for index in sorted(parsed, reverse=True):
        if index > max(widget_indices):
            continue
        bound, read = parsed[index]
        if index in needed_cells or bound & needed_names:
            needed_cells.add(index)
            needed_names = (needed_names - bound) | read
    return sorted(needed_cells)


def _bound_and_read(tree: ast.Module) -> tuple[set[str], set[str]]:
    """The global names a cell binds, and those it reads before binding them.

    Bindings inside a ``def`` or a ``class`` body are local to it and left out;
    names read anywhere (a function body included) count as read.
    """
    bound: set[str] = set()
    for node in _top_level_nodes(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            bound.add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
    read = {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }
    return bound, read - set(dir(builtins))


def _top_level_nodes(tree: ast.Module):
    """Every node outside function and class bodies (their names are local)."""
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            pending.extend(ast.iter_child_nodes(node))


def write_scratch_copy(notebook: Path, scratch: Path, cells: list[int] | None) -> None:
    """Copy a notebook, clearing the saved outputs of the cells about to run.

    Args:
        notebook: The notebook.
        scratch: Where the copy goes.
        cells: The indices of the code cells to clear (``None``: none).
    """
    content = json.loads(notebook.read_text())
    for index in cells or []:
        cell = content["cells"][index]
        if cell["cell_type"] != "code":
            raise ValueError(f"{notebook.name}: cell {index} is not a code cell")
        cell["outputs"], cell["execution_count"] = [], None
    scratch.write_text(json.dumps(content, indent=1) + "\n")


@dataclass
class NotebookReport:
    """What one notebook did in the browser. ``problems`` empty means it passed."""

    name: str
    ran: bool = True
    cells_run: int | None = None  # Only these ran (the widget pass); None: all.
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
            f"{self._how_they_ran()}, "
            f"{self.error_outputs} error outputs, "
            f"widgets {self.widgets_rendered}/{self.widget_outputs} rendered, "
            f"images {self.images_rendered}/{self.png_outputs} rendered "
            f"(+{self.widget_images_rendered} inside widgets), "
            f"{self.widgets_exercised} slider-driven widget(s) responded"
        )

    def _how_they_ran(self) -> str:
        if not self.ran:
            return "had run (saved outputs opened)"
        if self.cells_run is None:
            return "ran"
        return f"had run ({self.cells_run} ran here, for the widgets; saved outputs)"


def model_outputs(notebook: dict) -> list[dict | None]:
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


def rendering_settled(rendered: list[list[dict] | None]) -> bool:
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


def compare_rendering(
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


def check_model(
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


def check_widget_state(report: NotebookReport, notebook: dict) -> None:
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
