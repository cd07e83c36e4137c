"""One reveal.js deck per lesson, made from the notebooks by nbconvert.

The cells that belong in a lecture carry slide metadata
(``cell.metadata.slideshow.slide_type``: ``slide``, ``subslide``, ``-`` or
``skip``); nbconvert's slides exporter turns a lesson's notebooks into one
deck, with code inputs hidden (the figures and the derivations stay).

Decks work offline: reveal.js, MathJax 2, jQuery and require.js are fetched
once with npm into ``build/slides/vendor/`` (``--vendor``), and every deck loads
them from there instead of from a CDN.

Run ``python -m course_lib.slides --out build/slides``.

Introduced in docs/teaching.md.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from course_lib import config

# Lesson number, title, and the notebook numbers (NN of NN_*.ipynb) it covers.
LESSONS = [
    (1, "What generative image models are", ["00", "01"]),
    (2, "Deriving the GAN loss", ["02"]),
    (3, "The VAE and its ELBO", ["03"]),
    (4, "Building and training a GAN", ["04", "05", "06"]),
    (5, "Building and training a VAE", ["07"]),
    (6, "Images as tokens, and what generation costs", ["08", "09"]),
]
# The versions nbconvert's reveal template was written for.
NPM_PACKAGES = ["reveal.js@4.0.2", "mathjax@2.7.7", "jquery@2.2.4", "requirejs@2.1.10"]
VENDOR = "vendor/node_modules"


def vendor_assets(out_dir: Path) -> Path:
    """Fetch reveal.js, MathJax, jQuery and require.js with npm, once.

    Args:
        out_dir: The slides folder; the files go to ``out_dir/vendor``.

    Returns:
        The folder holding the packages.
    """
    target = Path(out_dir) / VENDOR
    if (target / "reveal.js" / "dist" / "reveal.js").is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise ValueError(
            "npm is needed once to fetch reveal.js and MathJax for offline slides: "
            "apt-get install -y npm"
        )
    subprocess.run(
        [
            npm,
            "install",
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(Path(out_dir) / "vendor"),
            *NPM_PACKAGES,
        ],
        check=True,
        timeout=600,
    )
    return target


def lesson_notebook(paths: list[Path]):
    """Join a lesson's notebooks into one notebook, cells in order.

    Args:
        paths: The lesson's notebooks.

    Returns:
        One nbformat notebook (the first one's metadata).
    """
    notebooks = [nbformat.read(path, as_version=4) for path in paths]
    joined = nbformat.v4.new_notebook(metadata=notebooks[0].metadata)
    for notebook in notebooks:
        for cell in notebook.cells:
            if cell.metadata.get("slideshow", {}).get("slide_type", "skip") != "skip":
                joined.cells.append(cell)
    return joined


def build_decks(out_dir: Path, root: Path | None = None) -> list[Path]:
    """Write ``lesson_N.slides.html`` for every lesson that has notebooks.

    Args:
        out_dir: The output folder, such as ``build/slides``.
        root: The repository root; the course's own by default.

    Returns:
        The decks written.
    """
    # nbconvert is part of the `teach` extra; only the slides need it.
    from nbconvert import SlidesExporter

    root = config.repo_root() if root is None else Path(root)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    vendor = vendor_assets(out_dir).relative_to(out_dir).as_posix()
    exporter = SlidesExporter(
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        reveal_url_prefix=f"{vendor}/reveal.js",
        reveal_scroll=True,
        mathjax_url=f"{vendor}/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
        jquery_url=f"{vendor}/jquery/dist/jquery.min.js",
        require_js_url=f"{vendor}/requirejs/require.js",
    )
    decks = []
    for number, title, prefixes in LESSONS:
        paths = [
            path
            for prefix in prefixes
            for path in sorted((root / "notebooks").glob(f"{prefix}_*.ipynb"))
        ]
        if not paths:
            continue
        notebook = lesson_notebook(paths)
        notebook.metadata["title"] = f"Lesson {number}: {title}"
        body, _ = exporter.from_notebook_node(notebook)
        deck = out_dir / f"lesson_{number}.slides.html"
        deck.write_text(body)
        decks.append(deck)
    return decks


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m course_lib.slides [--out DIR]``.

    Args:
        argv: The arguments; ``sys.argv[1:]`` by default.

    Returns:
        The exit status.
    """
    parser = argparse.ArgumentParser(description="Build one deck per lesson.")
    parser.add_argument("--out", default="build/slides", type=Path)
    args = parser.parse_args(argv)
    for deck in build_decks(args.out):
        print(f"wrote {deck}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
