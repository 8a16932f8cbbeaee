"""The computational graphs of the built site: legible SVG, and step-throughs that step.

Run after `make book` (part of `make test-site`).  The window is 1400 px wide, as
in the site checks, so the text column is about 784 px.
"""

from __future__ import annotations

import pytest

GRAPH_PAGE = "book/part1/04_composition_and_graphs.html"

# the smallest text of every inline SVG drawing, in CSS pixels as displayed
_FONT_JS = """
const out = [];
for (const svg of document.querySelectorAll('.adlib-graph svg, .adlib-stepper svg')) {
  const box = svg.getBoundingClientRect();
  if (box.width === 0) continue;                    // a hidden frame of a step-through
  const scale = box.width / svg.viewBox.baseVal.width;
  let smallest = Infinity;
  for (const t of svg.querySelectorAll('text')) {
    smallest = Math.min(smallest, parseFloat(t.getAttribute('font-size')) * scale);
  }
  const figure = svg.closest('figure');
  out.push({smallest: smallest, width: box.width,
            caption: figure ? (figure.querySelector('figcaption') || {}).textContent : null,
            label: svg.getAttribute('aria-label')});
}
return out;
"""

_STEPPERS_JS = """
return Array.from(document.querySelectorAll('.adlib-stepper')).map(root => ({
  ready: root.classList.contains('is-ready'),
  controls: !root.querySelector('.adlib-stepper-controls').hidden,
  shown: Array.from(root.querySelectorAll('.adlib-step'))
              .filter(s => s.getBoundingClientRect().height > 0)
              .map(s => s.dataset.step),
  steps: root.querySelectorAll('.adlib-step').length,
}));
"""


@pytest.fixture(scope="module")
def graph_page(site, checker):
    path = site / GRAPH_PAGE
    if not path.exists():
        pytest.fail(f"{path} is missing from the build", pytrace=False)
    report = checker.check(path)
    assert not report.problems, report.problems
    return checker.driver


def test_graphs_are_inline_svg_with_legible_text_and_captions(graph_page):
    drawings = graph_page.execute_script(_FONT_JS)
    assert len(drawings) >= 8
    for d in drawings:
        assert d["smallest"] >= 11, d           # text >= 11 px in the 784 px column
        assert d["width"] <= 800, d
        assert d["caption"] and d["label"], d   # numbered figure with a text alternative


def test_step_throughs_show_one_frame_and_step(graph_page):
    from selenium.webdriver.common.by import By

    steppers = graph_page.execute_script(_STEPPERS_JS)
    assert len(steppers) >= 3
    for s in steppers:
        assert s["ready"] and s["controls"] and s["shown"] == ["1"] and s["steps"] > 1, s
    root = graph_page.find_elements(By.CSS_SELECTOR, ".adlib-stepper")[0]
    graph_page.execute_script("arguments[0].scrollIntoView()", root)
    root.find_element(By.CSS_SELECTOR, '[data-action="next"]').click()
    root.find_element(By.CSS_SELECTOR, '[data-action="next"]').click()
    assert graph_page.execute_script(_STEPPERS_JS)[0]["shown"] == ["3"]
    root.find_element(By.CSS_SELECTOR, '[data-action="prev"]').click()
    assert graph_page.execute_script(_STEPPERS_JS)[0]["shown"] == ["2"]
    root.find_element(By.CSS_SELECTOR, '[data-action="first"]').click()
    assert graph_page.execute_script(_STEPPERS_JS)[0]["shown"] == ["1"]
    assert not [e for e in graph_page.get_log("browser") if e["level"] == "SEVERE"]


def test_landing_page_shows_a_traced_graph(site, checker):
    report = checker.check(site / "book/intro.html")
    assert not report.problems, report.problems
    drawings = checker.driver.execute_script(_FONT_JS)
    assert len(drawings) >= 2 and all(d["caption"] for d in drawings)
