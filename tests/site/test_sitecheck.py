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
