"""The JavaScript the browser check runs in JupyterLab's page, as strings.

Each is a function for Playwright's ``page.evaluate`` or ``page.wait_for_function``
(``notebook_check`` runs them).
"""

# JavaScript run in the page. `window.jupyterapp` exists because the server runs
# with --LabApp.expose_app_in_browser=True.
# `needKernel` false is the render-only check: the saved outputs need no kernel, so
# only the notebook's model and every cell's view must be there.
NOTEBOOK_READY_JS = """([path, needKernel]) => {
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
OPEN_JS = """(path) => {
  window.jupyterapp.commands.execute('docmanager:open', {path: path});
}"""

# Close every document without a "save changes?" dialog; the next one opens alone.
CLOSE_ALL_JS = """() => {
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
NEXT_FRAME_JS = """() => new Promise(
  (resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))"""

# Start running the notebook: all cells (`indices` null), or only the given ones
# (indices into the notebook's cells, markdown included), in notebook order: the
# widget pass (notebook_model.widget_cells). Those are selected, then "run selected
# cells" (Ctrl-Enter) runs them through the same path as run-all. The state in
# window.__courseRunAll settles when the last has run (or one has failed).
START_RUN_JS = """(indices) => {
  window.__courseRunAll = {done: false};
  let command = 'notebook:run-all-cells';
  if (indices !== null) {
    const notebook = window.jupyterapp.shell.currentWidget.content;
    notebook.activeCellIndex = indices[0];
    notebook.deselectAll();
    for (const index of indices) {
      notebook.select(notebook.widgets[index]);
    }
    command = 'notebook:run-cell';
  }
  window.jupyterapp.commands.execute(command).then(
    (ok) => { window.__courseRunAll = {done: true, ok: Boolean(ok)}; },
    (error) => {
      window.__courseRunAll = {done: true, ok: false, error: String(error)};
    }
  );
}"""

RUN_ALL_FINISHED_JS = """() => {
  const state = window.__courseRunAll;
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return Boolean(state && state.done && kernel && kernel.status === 'idle');
}"""

SAVE_JS = """async () => {
  const panel = window.jupyterapp.shell.currentWidget;
  await panel.context.save();
  return window.__courseRunAll;
}"""

# For every code cell, each output as the page shows it. An output's index in the
# cell's output model is its index among the output area's children.
RENDERED_OUTPUTS_JS = """(widgetMime) => {
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

PREPARE_SCREENSHOT_JS = """() => {
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


SCROLL_NOTEBOOK_JS = """(offset) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const scroller =
    panel.content.node.querySelector('.jp-WindowedPanel-outer') || panel.content.node;
  scroller.scrollTop = offset;
  return {visible: scroller.clientHeight};
}"""


# Mark each top-level widget view that holds both a slider and an image (an
# explorer, an interact() plot) and return the markers with their cells.
MARK_SLIDER_WIDGETS_JS = """() => {
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

IMAGE_SOURCES_JS = """(element) => Array.from(element.querySelectorAll('img')).map(
  (image) => image.complete && image.naturalWidth > 0 ? image.src : 'loading')"""

IMAGES_CHANGED_JS = """([marker, before]) => {
  const view = document.querySelector(`[data-course-widget="${marker}"]`);
  const images = Array.from(view.querySelectorAll('img'));
  const now = images.map(
    (image) => image.complete && image.naturalWidth > 0 ? image.src : 'loading');
  return !now.includes('loading') && JSON.stringify(now) !== JSON.stringify(before);
}"""
