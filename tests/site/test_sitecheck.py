"""The site checker finds what it is meant to find.

Each test copies the built site into a temporary folder, plants one defect in a real
page (the notation page, which has plenty of math) and asserts that the checker
reports exactly that kind of problem. The untouched copy of the same page must come
out clean, so a report is caused by the planted defect and not by the copy.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from sitecheck import static_problems

PAGE = "book/notation.html"


@pytest.fixture
def site_copy(site, tmp_path: Path) -> Path:
    """A copy of the site (the big, read-only _static folder is linked, not copied)."""
    copy = tmp_path / "html"
    shutil.copytree(site, copy, ignore=shutil.ignore_patterns("_static"))
    (copy / "_static").symlink_to(site / "_static", target_is_directory=True)
    return copy


def plant(page: Path, snippet: str) -> None:
    """Insert `snippet` at the end of the page's article (inside the content)."""
    text = page.read_text(encoding="utf-8")
    assert text.count("</article>") == 1
    page.write_text(text.replace("</article>", snippet + "\n</article>"), encoding="utf-8")


def problems_of(checker, page: Path) -> list[str]:
    return checker.check(page).problems


def only(problems: list[str], prefix: str) -> list[str]:
    return [p for p in problems if p.startswith(prefix)]


def test_untouched_copy_is_clean(site_copy, checker):
    assert problems_of(checker, site_copy / PAGE) == []


def test_broken_formula_is_reported(site_copy, checker):
    """A formula MathJax parses but cannot typeset becomes an error box."""
    page = site_copy / PAGE
    plant(page, r'<p><span class="math notranslate nohighlight">\(\left( \frac{1}{x} \)</span></p>')
    problems = problems_of(checker, page)
    errors = only(problems, "MathJax error")
    assert len(errors) == 1 and r"\left( \frac{1}{x}" in errors[0], problems


def test_unclosed_brace_is_reported(site_copy, checker):
    """With an unclosed brace MathJax never finds the end of the formula: it stays raw."""
    page = site_copy / PAGE
    plant(page, r'<p><span class="math notranslate nohighlight">\(\frac{1}{x + \)</span></p>')
    problems = problems_of(checker, page)
    assert only(problems, "math not typeset"), problems
    assert only(problems, "raw TeX"), problems


def test_undefined_macro_is_reported(site_copy, checker):
    """With `noundefined` switched off in _config.yml, an unknown macro is an error."""
    page = site_copy / PAGE
    plant(page, r'<div class="math notranslate nohighlight">\[\notamacro{x} + 1\]</div>')
    problems = problems_of(checker, page)
    errors = only(problems, "MathJax error")
    assert len(errors) == 1 and "notamacro" in errors[0], problems


def test_raw_tex_in_text_is_reported(site_copy, checker):
    page = site_copy / PAGE
    # MyST marks prose sections as "not for MathJax"; math it failed to parse stays raw there
    plant(page, r'<section class="tex2jax_ignore mathjax_ignore">'
                r"<p>This display was never handed to MathJax: $$a^2 + b^2$$</p></section>")
    problems = problems_of(checker, page)
    assert only(problems, "raw TeX '$$'"), problems


def test_page_without_mathjax_is_reported(site_copy, checker):
    page = site_copy / PAGE
    text = page.read_text(encoding="utf-8")
    text, n = re.subn(r'<script[^>]*src="[^"]*mathjax/tex-chtml\.js[^"]*"[^>]*></script>', "", text)
    assert n == 1
    page.write_text(text, encoding="utf-8")
    problems = problems_of(checker, page)
    assert "page has math but MathJax did not load" in problems, problems
    assert only(problems, "math not typeset"), problems


def test_broken_image_is_reported(site_copy, checker):
    page = site_copy / PAGE
    plant(page, '<img src="../_images/no-such-figure.png" alt="missing">')
    problems = problems_of(checker, page)
    assert only(problems, "image did not load"), problems


def test_broken_links_are_reported(site_copy, checker):
    page = site_copy / PAGE
    plant(page, '<a href="no-such-page.html">x</a> <a href="intro.html#no-such-anchor">y</a> '
                '<a href="#no-such-local-anchor">z</a>')
    problems = problems_of(checker, page)
    assert any("no-such-page.html" in p for p in only(problems, "broken link")), problems
    anchors = only(problems, "broken anchor")
    assert any("no-such-anchor" in p for p in anchors), problems
    assert any("no-such-local-anchor" in p for p in anchors), problems


def test_javascript_error_is_reported(site_copy, checker):
    page = site_copy / PAGE
    plant(page, "<script>undefinedFunctionOfOurs();</script>")
    problems = problems_of(checker, page)
    errors = only(problems, "console error")
    assert any("undefinedFunctionOfOurs" in p for p in errors), problems


def test_mathjax_from_a_cdn_is_reported(site_copy):
    page = site_copy / PAGE
    plant(page, '<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script>')
    problems = static_problems(page)
    assert any("MathJax from the network" in p for p in problems), problems


# ---- what the reader sees (issue 16): each defect planted in a copy of a real page ----------

CHAPTER = "book/part1/01_jacobians_jvps_vjps.html"  # code cells, stream outputs, math
PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42"
         "mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")


def test_untouched_chapter_has_no_reader_view_problems(site_copy, checker):
    """The chapter used below is clean of the problems planted in it (whatever else the
    full-site test may find on it)."""
    problems = problems_of(checker, site_copy / CHAPTER)
    for prefix in ("math wider", "input code block", "visible", "image without",
                   "link to a repository", "stream output split"):
        assert not only(problems, prefix), problems


def test_wide_display_math_is_reported(site_copy, checker):
    page = site_copy / PAGE
    long = " + ".join(f"a_{{{i}}} b_{{{i}}}" for i in range(60))
    plant(page, rf'<div class="math notranslate nohighlight">\[{long}\]</div>')
    problems = only(problems_of(checker, page), "math wider than the text column")
    assert len(problems) == 1 and "a_{0} b_{0}" in problems[0], problems


def test_wide_derivation_is_reported(site_copy, checker, monkeypatch):
    """A derivation of adlib.symbolic without its line breaking overflows; with it, not."""
    import sympy as sp

    from adlib.symbolic import derivation, pushforward

    A, B, C, D, E, F = (sp.MatrixSymbol(s, 3, 3) for s in "ABCDEF")
    pf = pushforward(A * B * C * D * E * F, [A, B, C, D, E, F])
    fitted = pf._repr_html_()
    monkeypatch.setattr(derivation, "LINE_WIDTH", 10_000)
    plant(site_copy / PAGE, pf._repr_html_())
    assert only(problems_of(checker, site_copy / PAGE), "math wider than the text column")
    page = site_copy / CHAPTER
    plant(page, fitted)
    assert not only(problems_of(checker, page), "math wider than the text column")


def test_scrolling_input_code_is_reported(site_copy, checker):
    page = site_copy / CHAPTER
    line = "result = " + " + ".join(f"value_{i}" for i in range(20))
    plant(page, '<div class="cell docutils container"><div class="cell_input docutils '
                'container"><div class="highlight-ipython3 notranslate"><div class="highlight">'
                f"<pre><span></span>{line}\n</pre></div></div></div></div>")
    problems = only(problems_of(checker, page), "input code block scrolls sideways")
    assert len(problems) == 1 and "value_0" in problems[0], problems


@pytest.mark.parametrize("snippet, what", [
    ("<pre># NBVAL_IGNORE_OUTPUT\nx = 1</pre>", "an nbval marker"),
    ('<div class="cell_output"><pre>Traceback (most recent call last)\n  Cell In[3], line 1'
     "</pre></div>", "a full traceback"),
    ("<pre>Exception reporting mode: Minimal</pre>", "the output of %xmode"),
    ('<pre>  File "/tmp/tmpab12cd/book/part1/x.py", line 3</pre>', "a temporary build path"),
    ("<p>see .venv/lib/python3.11/site-packages/adlib/engine.py</p>", "an installation path"),
])
def test_visible_plumbing_is_reported(site_copy, checker, snippet, what):
    page = site_copy / CHAPTER
    plant(page, snippet)
    problems = only(problems_of(checker, page), f"visible {what}")
    assert len(problems) == 1, problems_of(checker, page)


def test_plumbing_inside_a_collapsed_cell_is_not_visible(site_copy, checker):
    page = site_copy / CHAPTER
    plant(page, "<details><summary>Show code</summary><pre># NBVAL_SKIP</pre></details>")
    assert not only(problems_of(checker, page), "visible")


def test_image_without_alt_or_caption_is_reported(site_copy, checker):
    page = site_copy / CHAPTER
    plant(page, f'<img src="{PIXEL}"><figure><img src="{PIXEL}" alt="A dot.">'
                "<figcaption><p>A dot.</p></figcaption></figure>"
                f'<figure><img src="{PIXEL}" alt="A dot."></figure>')
    problems = problems_of(checker, page)
    assert len(only(problems, "image without alt text")) == 1, problems
    assert len(only(problems, "image without a caption")) == 2, problems


def test_link_to_an_unconfigured_repository_is_reported(site_copy, checker, monkeypatch):
    import sitecheck

    page = site_copy / CHAPTER
    plant(page, '<a href="https://mybinder.org/v2/gh/adlib-book/adlib-book/main">Binder</a>'
                '<a href="https://github.com/jax-ml/jax">JAX, cited in the text</a>')
    problems = only(problems_of(checker, page), "link to a repository")
    assert len(problems) == 1 and "mybinder.org" in problems[0], problems
    # with that repository configured, the same link is honest
    monkeypatch.setattr(sitecheck, "configured_repository", lambda: "adlib-book/adlib-book")
    assert not only(problems_of(checker, page), "link to a repository")


def test_repository_setting_is_read_from_the_config(tmp_path):
    from sitecheck import configured_repository

    (tmp_path / "_config.yml").write_text('title: x\nrepository:\n  url: ""\n  branch: main\n')
    assert configured_repository(tmp_path) == ""
    (tmp_path / "_config.yml").write_text(
        "repository:\n  path_to_book: ''\n  url: https://github.com/someone/book.git\n")
    assert configured_repository(tmp_path) == "someone/book"


def test_split_stream_output_is_reported(site_copy, checker):
    page = site_copy / CHAPTER
    text = page.read_text(encoding="utf-8")
    m = re.search(r'<div class="output stream highlight-myst-ansi notranslate">.*?</pre></div>\s*'
                  r"</div>", text, re.S)
    assert m, "the chapter should have a stream output"
    page.write_text(text[:m.end()] + m.group() + text[m.end():], encoding="utf-8")
    problems = only(problems_of(checker, page), "stream output split")
    assert len(problems) == 1, problems
