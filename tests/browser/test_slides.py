"""Each lesson's reveal.js deck renders offline in Chromium: a math slide and a
figure slide, with screenshots in build/screenshots/.

The decks are built here (``course_lib.slides``, as ``make slides`` does) and served
from 127.0.0.1; reveal.js and MathJax come from build/slides/vendor/, never a CDN.
"""

import functools
import http.server
import threading

import pytest
from lab_server import REPO_ROOT

from course_lib import slides

SLIDES_DIR = REPO_ROOT / "build" / "slides"
SCREENSHOTS = REPO_ROOT / "build" / "screenshots"

# The (h, v) position of the first slide holding a given kind of element.
FIND_SLIDE = """(selector) => {
  const tops = [...document.querySelectorAll('.reveal .slides > section')];
  for (let h = 0; h < tops.length; h++) {
    const inner = tops[h].querySelectorAll(':scope > section');
    const list = inner.length ? [...inner] : [tops[h]];
    for (let v = 0; v < list.length; v++) {
      const hit = [...list[v].querySelectorAll(selector)].find(
        (el) => el.tagName !== 'IMG' || el.naturalWidth > 0);
      if (hit) return [h, v];
    }
  }
  return null;
}"""

# The slide at (h, v) is the present one, its transition has ended, MathJax has
# finished with it, and the element is laid out (an image also decoded): ready
# for its screenshot, with no fixed wait.
SLIDE_SHOWN = """([h, v, selector]) => {
  if (!window.MathJax || MathJax.Hub.queue.pending !== 0) {
    return false;
  }
  const moving = document.getAnimations().some(
    (animation) => animation instanceof CSSTransition
      && animation.playState === 'running');
  if (moving) {
    return false;
  }
  const top = document.querySelectorAll('.reveal .slides > section')[h];
  const inner = top ? top.querySelectorAll(':scope > section') : [];
  const slide = inner.length ? inner[v] : top;
  if (!slide || !slide.classList.contains('present')) {
    return false;
  }
  const element = slide.querySelector(selector);
  if (!element || (element.tagName === 'IMG' && !element.complete)) {
    return false;
  }
  const box = element.getBoundingClientRect();
  return box.width > 10 && box.height > 5;
}"""


@pytest.fixture(scope="module")
def decks():
    try:
        built = slides.build_decks(SLIDES_DIR)
    except ValueError as error:  # npm missing and nothing vendored yet.
        pytest.skip(str(error))
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(SLIDES_DIR)
    )
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield [
        (deck, f"http://127.0.0.1:{server.server_port}/{deck.name}") for deck in built
    ]
    server.shutdown()


def test_every_lesson_has_a_deck(decks):
    assert len(decks) == len(slides.LESSONS)


@pytest.mark.parametrize("index", range(len(slides.LESSONS)))
def test_a_math_slide_and_a_figure_slide_render(decks, browser_context, index):
    deck, url = decks[index]
    html = deck.read_text()
    assert "unpkg.com/reveal" not in html and "mathjax/2.7.7" not in html, "a CDN"
    page = browser_context.new_page()
    failed = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(url)
    page.wait_for_selector(".reveal.ready", timeout=60_000)
    page.wait_for_function(
        "window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0 "
        "&& document.querySelector('.MathJax_CHTML')",
        timeout=120_000,
    )
    assert not page.query_selector(".MathJax_Error"), "MathJax reported an error"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for kind, selector in [("math", ".MathJax_CHTML"), ("figure", "img")]:
        position = page.evaluate(FIND_SLIDE, selector)
        assert position, f"{deck.name}: no {kind} slide"
        page.goto(f"{url}#/{position[0]}/{position[1]}")
        page.wait_for_function(
            SLIDE_SHOWN, arg=[*position, selector], timeout=30_000, polling=100
        )
        page.wait_for_timeout(200)  # One more paint after the layout settles.
        visible = page.locator(f".reveal section.present {selector}").first
        box = visible.bounding_box()
        assert box and box["width"] > 10 and box["height"] > 5, (deck.name, kind)
        page.screenshot(path=str(SCREENSHOTS / f"{deck.stem}_{kind}.png"))
    local = [u for u in failed if u.startswith("http://127.0.0.1")]
    assert not local, f"{deck.name}: files missing: {local[:3]}"
    page.close()
