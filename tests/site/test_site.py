"""Every page of the built site, opened in headless chromium.

For each HTML page of _build/html (all of them, including the search page and the
general index; only the asset folders `_static` and `_sources` hold no pages): math typeset by MathJax with no error boxes and no
raw TeX left, every image loaded, every local link and anchor resolving, no
JavaScript errors, nothing loaded from the network; and, at 1400×1000, what the reader
sees: no display formula or derivation wider than the text column, no input code that
scrolls sideways, no visible test marker, traceback or build path, every image with alt
text and a caption, no link to a repository unless one is configured, no stream output
split into several boxes (see sitecheck.py).
"""

from __future__ import annotations

import pytest

from sitecheck import SITE, scan_source, site_pages

PAGES = site_pages() if SITE.exists() else []


def test_site_is_built(site):
    pages = site_pages(site)
    names = {p.relative_to(site).as_posix() for p in pages}
    for required in ("index.html", "book/intro.html", "book/notation.html", "book/api.html",
                     "book/references.html", "search.html", "genindex.html"):
        assert required in names, f"{required} missing from the built site"


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(SITE).as_posix() for p in PAGES])
def test_page(site, checker, page):
    report = checker.check(page)
    assert not report.problems, str(report)


def test_math_pages_are_typeset(site, checker):
    """The pages known to carry math really show MathJax output (guards against a
    site where MathJax silently never runs and so never reports an error)."""
    for name in ("book/intro.html", "book/notation.html"):
        page = site / name
        assert scan_source(page).math_elements > 0, f"{name} should contain math"
        report = checker.check(page)
        assert report.containers >= report.math_elements > 0, str(report)


def test_mathjax_is_served_locally(site):
    mathjax = site / "_static" / "mathjax" / "tex-chtml.js"
    assert mathjax.is_file(), "MathJax is not part of the built site (see `make mathjax`)"
    fonts = list((site / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert fonts, "MathJax's CHTML fonts are missing from the built site"
    html = (site / "book" / "notation.html").read_text(encoding="utf-8")
    assert '_static/mathjax/tex-chtml.js' in html
