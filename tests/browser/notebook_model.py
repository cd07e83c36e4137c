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
import json
from dataclasses import dataclass, field
from pathlib import Path

from lab_server import REPO_ROOT

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
# The statements whose bodies have names of their own.
_DEFINITIONS = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


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
    the browser pass only opens them; nbval runs every cell.

    Args:
        notebook: A notebook file.

    Returns:
        ``True`` if any saved output is an ipywidgets view.
    """
    return bool(_widget_indices(_cells(notebook)))


def _cells(notebook: Path) -> list[dict]:
    return json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]


def _widget_indices(cells: list[dict]) -> set[int]:
    """The indices of the cells with a saved widget output."""
    return {
        index
        for index, cell in enumerate(cells)
        for output in cell.get("outputs", [])
        if WIDGET_VIEW_MIME in output.get("data", {})
    }


def widget_cells(notebook: Path) -> list[int] | None:
    """The code cells a notebook's widgets need: their own and those they depend on.

    A backward slice by name: start from the names the widget cells read, and
    walk up the notebook. A cell that may bind one of those names (an assignment,
    an import, a ``def``, also under an ``if``) is needed, and what it reads is
    needed in turn (``x += 1`` reads ``x``). Only a binding that always happens
    (a plain assignment, an import or a ``def`` at the top level of its cell)
    hides the cells above it from that name, since a notebook runs top to
    bottom. Cells with IPython magics or shell escapes are kept: they may set
    the stage, as ``%matplotlib widget`` does.

    A dependency made by a side effect alone (a cell that only calls a method on
    an object) is missed. The browser run then usually fails with a
    ``NameError`` or a widget that does not respond, but not always: keep the
    cells a widget needs plain.

    Args:
        notebook: A notebook file.

    Returns:
        The needed cells' indices in the notebook (all cells, not only code), in
        order; ``None`` when a cell defeats the analysis (it does not parse, or
        uses ``import *`` or ``global``), so that all must run.
    """
    cells = _cells(notebook)
    parsed, magic_cells = {}, set()
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).splitlines()
        is_magic = [line.lstrip().startswith(("%", "!")) for line in lines]
        if any(is_magic):
            magic_cells.add(index)
        # IPython magics and shell escapes are not Python.
        code = "\n".join(
            "" if magic else line for line, magic in zip(lines, is_magic, strict=True)
        )
        try:
            parsed[index] = _names(ast.parse(code))
        except SyntaxError:
            return None
        if parsed[index] is None:
            return None
    widget_indices = _widget_indices(cells)
    if not widget_indices:
        return []
    last = max(widget_indices)
    needed_cells = widget_indices | {index for index in magic_cells if index < last}
    needed_names: set[str] = set()
    for index in sorted(parsed, reverse=True):
        if index > last:
            continue
        always, maybe, read = parsed[index]
        if index in needed_cells or maybe & needed_names:
            needed_cells.add(index)
            needed_names = (needed_names - always) | read
    return sorted(needed_cells)


def _names(tree: ast.Module) -> tuple[set[str], set[str], set[str]] | None:
    """The global names a cell always binds, may bind, and reads.

    Bindings inside a ``def`` or a ``class`` body are local to it and left out.
    Names read anywhere count as read, a function's own locals included (that
    only makes a slice larger). ``None`` for ``import *`` and ``global``, whose
    bindings cannot be read off the cell.
    """
    always: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, ast.Assign | ast.AnnAssign) and statement.value:
            targets = getattr(statement, "targets", None) or [statement.target]
            for target in targets:
                for node in ast.walk(target):
                    always |= _bound_by(node)
        elif isinstance(statement, _DEFINITIONS | ast.Import | ast.ImportFrom):
            always |= _bound_by(statement)
    maybe: set[str] = set()
    for node in _top_level_nodes(tree):
        maybe |= _bound_by(node)
    read: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Global | ast.Nonlocal):
            return None
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            return None
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            read.add(node.id)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            read.add(node.target.id)
    return always, maybe, read


def _bound_by(node: ast.AST) -> set[str]:
    """The names one node binds itself (not those of the nodes inside it)."""
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
        return {node.id}
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {alias.asname or alias.name.split(".")[0] for alias in node.names}
    if isinstance(node, _DEFINITIONS):
        return {node.name}
    return set()


def _top_level_nodes(tree: ast.Module):
    """Every node outside function and class bodies (their names are local)."""
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        yield node
        if not isinstance(node, _DEFINITIONS):
            pending.extend(ast.iter_child_nodes(node))


def write_scratch_copy(notebook: Path, scratch: Path, cells: list[int] | None) -> None:
    """Copy a notebook, clearing the saved outputs of the cells about to run.

    Args:
        notebook: The notebook.
        scratch: Where the copy goes.
        cells: The indices of the code cells to clear (``None``: none).
    """
    content = json.loads(notebook.read_text(encoding="utf-8"))
    for index in cells or []:
        cell = content["cells"][index]
        if cell["cell_type"] != "code":
            raise ValueError(f"{notebook.name}: cell {index} is not a code cell")
        cell["outputs"], cell["execution_count"] = [], None
    scratch.write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")


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
