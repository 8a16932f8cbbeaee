"""Derivations of adlib.symbolic fit the book's text column, measured in chromium.

Each kind of derivation the book displays (products, solves, inverses, determinants,
quadratic forms, Lyapunov and Sylvester equations, their pullbacks) is rendered with its
``_repr_html_`` into a page with a 784 px column (the text column of the book at
1400 px), typeset by the book's own MathJax, and measured: no typeset equation may be
wider than the column. A derivation broken with a line width far too large is measured
too, to show that the measurement catches an overflow.
"""

from __future__ import annotations

import html
from pathlib import Path

import pytest
import sympy as sp

import adlib.symbolic as sym
from adlib.symbolic import derivation
from sitecheck import ROOT

COLUMN_PX = 784
MATHJAX = ROOT / "_assets" / "mathjax" / "tex-chtml.js"

n = sp.Symbol("n", integer=True, positive=True)
m = sp.Symbol("m", integer=True, positive=True)
A, B, Q, X, P, Y = (sp.MatrixSymbol(s, n, n) for s in "ABQXPY")
x, b = sp.MatrixSymbol("x", n, 1), sp.MatrixSymbol("b", n, 1)
As, Bs, Cs, Xs = (sp.MatrixSymbol("A", m, m), sp.MatrixSymbol("B", n, n),
                  sp.MatrixSymbol("C", m, n), sp.MatrixSymbol("X", m, n))
s, t = sp.symbols("x y")
xe = sp.Matrix(sp.symbols("x0:3"))  # explicit entries: softmax, a norm, a 2x2 inverse
softmax = xe.applyfunc(sp.exp) / sum(xe.applyfunc(sp.exp))
M = sp.Matrix(2, 2, sp.symbols("a b c d"))


def derivations() -> list:
    return [
        sym.pushforward(A * x, [A, x]), sym.pullback(A * x, [A, x]),
        sym.pushforward(A * B, [A, B]), sym.pullback(A * B, [A, B]),
        sym.pushforward(X.inverse(), X), sym.pullback(X.inverse(), X),
        sym.pushforward(sp.Determinant(X), X), sym.pullback(sp.log(sp.Determinant(X)), X),
        sym.pushforward(sp.Rational(1, 2) * x.T * Q * x, [x, Q]),
        sym.pullback(sp.Rational(1, 2) * x.T * Q * x, [x, Q]),
        sym.pushforward(B.T * A * B, [A, B]), sym.pullback(B.T * A * B, [A, B]),
        sym.pushforward(sp.Trace(A * B * A.T), [A, B]),
        sym.implicit_pushforward(sp.Eq(A * x, b), [A, b], x),
        sym.implicit_pullback(b - A * x, [A, b], x),
        sym.implicit_pushforward(sp.Eq(X * Y, sp.Identity(n)), X, Y),
        sym.implicit_pushforward(A * P + P * A.T + Q, [A, Q], P),
        sym.implicit_pullback(A * P + P * A.T + Q, [A, Q], P),
        sym.implicit_pullback(Cs - As * Xs - Xs * Bs, [As, Bs, Cs], Xs),
        sym.implicit_pullback(t ** 3 + s * t - 1, s, t),
        sym.pushforward(softmax, [xe]), sym.pullback(softmax, [xe]),
        sym.pullback(sp.sqrt((xe.T * xe)[0, 0]), [xe]),
        sym.pushforward(M.inv(), [M]),
        sym.pushforward(t ** 2 * sp.sin(s) * sp.exp(-s * t) / (1 + s ** 2), [s, t]),
    ]


def page_for(blocks: list[str], path: Path) -> Path:
    body = "\n".join(f'<section class="case">{b}</section>' for b in blocks)
    path.write_text(f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<script>window.MathJax = {{tex: {{packages: {{"[-]": ["noundefined"]}}}}}};</script>
<script src="{MATHJAX.as_uri()}"></script>
<style>body {{ font-size: 16px; margin: 0 }} #column {{ width: {COLUMN_PX}px }}</style>
</head><body><div id="column">{body}</div></body></html>""", encoding="utf-8")
    return path


_MEASURE_JS = r"""
const done = arguments[arguments.length - 1];
MathJax.startup.promise.then(() => {
  const column = document.getElementById('column').getBoundingClientRect();
  done(Array.from(document.querySelectorAll('section.case')).map(sec => {
    const widths = Array.from(sec.querySelectorAll('mjx-container')).map(
      c => c.firstElementChild.getBoundingClientRect().right - column.left);
    return {widest: Math.max(0, ...widths), errors: sec.querySelectorAll('mjx-merror').length,
            boxes: sec.querySelectorAll('mjx-container').length};
  }));
});
"""


def measure(checker, page: Path) -> list[dict]:
    if not MATHJAX.exists():
        pytest.fail("MathJax is missing from _assets (run `make mathjax`)", pytrace=False)
    checker.driver.get(page.as_uri())
    return checker.driver.execute_async_script(_MEASURE_JS)


def test_every_derivation_fits_the_column(checker, tmp_path):
    ds = derivations()
    results = measure(checker, page_for([d._repr_html_() for d in ds], tmp_path / "d.html"))
    for d, r in zip(ds, results):
        assert r["boxes"] >= len(d.steps) and r["errors"] == 0, (d.title, r)
        assert r["widest"] <= COLUMN_PX, f"{d.title}: {r['widest']:.0f} px > {COLUMN_PX} px"


def test_an_unbroken_derivation_is_caught(checker, tmp_path, monkeypatch):
    """The measurement is not blind: without line breaking, a long scalar pushforward
    and the product rule for six factors overflow the column; with it, they fit."""
    ds = [derivations()[-1], sym.pushforward(A * B * Q * X * P * Y, [A, B, Q, X, P, Y])]
    broken = measure(checker, page_for([d._repr_html_() for d in ds], tmp_path / "b.html"))
    assert all(r["widest"] <= COLUMN_PX for r in broken), broken
    monkeypatch.setattr(derivation, "LINE_WIDTH", 10_000)
    whole = measure(checker, page_for([d._repr_html_() for d in ds], tmp_path / "w.html"))
    assert all(r["widest"] > COLUMN_PX for r in whole), whole


def test_labels_are_text_not_math():
    """Labels are HTML text (they wrap); only a label with a formula carries math."""
    for d in derivations():
        for step in d.steps:
            label = derivation._note_html(step.note)
            if isinstance(step.note, str):
                assert label == html.escape(step.note)
