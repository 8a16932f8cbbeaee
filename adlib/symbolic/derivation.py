"""How a derivation is shown: steps with a label, in HTML, LaTeX and plain text.

A :class:`Derivation` is a title and a list of steps; each step is an equation and the
name of what was done (the five steps of the perturbation recipe: *perturb, expand, drop
higher order, cancel the primal, rename δ → dot*; the pullback's *inner product,
transpose, read off*).

* In a notebook and on the book's pages (``_repr_html_``) the steps form a grid: left
  sides, right sides (the ``=`` signs aligned) and a column of labels. An equation
  longer than :data:`LINE_WIDTH` (an estimate of its printed width in characters) is
  broken after a ``+`` or ``−`` onto indented lines; a long left side (an implicit
  ``F(x, y) = 0``) spans both equation columns. On a narrow screen the book's
  stylesheet (``_assets/custom.css``) puts each label beneath its equation.
* ``_repr_latex_`` gives the same rows as one ``aligned`` block (for LaTeX output).
* ``repr`` is a plain-text table for terminals and doctests.
"""
from __future__ import annotations

import dataclasses
import html
import re
from typing import Any, NamedTuple

import sympy as sp

from adlib.symbolic.notation import _is_matrix, _text, latex

#: Estimated printed width (in characters of math) of one line of a displayed equation:
#: about 450 px at the size MathJax uses on the book's pages, so that an equation and its
#: label fit side by side in the 784 px text column.
LINE_WIDTH = 48

#: Labels of the steps, as the text of Part 3 ch. 1 names them.
PERTURB, EXPAND, DROP, CANCEL, RENAME = (
    "perturb", "expand", "drop higher order", "cancel the primal", "rename δ → dot")


class _Tex(NamedTuple):
    latex: str
    text: str


class _Step(NamedTuple):
    lhs: _Tex
    rhs: _Tex
    note: Any  # plain text, or a _Tex when it contains math


def _note_tex(note: Any) -> str:
    return note.latex if isinstance(note, _Tex) else rf"\text{{{note}}}"


def _note_text(note: Any) -> str:
    return note.text if isinstance(note, _Tex) else note


def _note_html(note: Any) -> str:
    """A label as HTML: its words as text (so that it wraps), its formulas as math."""
    if not isinstance(note, _Tex):
        return html.escape(note)
    parts = re.split(r"\\text\{([^{}]*)\}", note.latex)  # math, text, math, text, ...
    out = []
    for k, part in enumerate(parts):
        if k % 2:
            out.append(html.escape(part))
        elif part.strip():
            tex = html.escape(part.strip(), quote=False)
            out.append(f'<span class="math notranslate nohighlight">\\({tex}\\)</span>')
    return " ".join(o.strip() for o in out if o.strip())


def _t(obj: Any) -> _Tex:
    if isinstance(obj, _Tex):
        return obj
    if isinstance(obj, sp.MatrixBase):  # one line of text, not SymPy's multi-line form
        shown = obj.applyfunc(_compact)
        return _Tex(latex(shown), f"Matrix({_text(shown.tolist())})")
    return _Tex(latex(obj), _text(obj))


def _compact(entry: Any) -> Any:
    """An entry of an explicit matrix as shown: factored when that is shorter (the
    entries of a softmax pullback, say, are long sums over a common denominator)."""
    if len(_text(entry)) <= 40:
        return entry
    factored = sp.factor(entry)
    return factored if len(_text(factored)) < len(_text(entry)) else entry


def _parens(obj: Any) -> _Tex:
    t = _t(obj)
    return _Tex(rf"\left({t.latex}\right)", f"({t.text})")


def _cat(*parts: Any) -> _Tex:
    ts = [_t(p) for p in parts]
    return _Tex(" ".join(t.latex for t in ts), "".join(t.text for t in ts))


def _angle(a: Any, b: Any) -> _Tex:
    """``⟨a, b⟩`` for matrices, ``(a) b`` for scalars."""
    ta, tb = _t(a), _t(b)
    if not _is_matrix(b):
        ta = ta if a.is_Atom else _parens(ta)
        return _cat(ta, _Tex(r"\,", "*"), _parens(tb) if isinstance(b, sp.Add) else tb)
    return _Tex(rf"\left\langle {ta.latex}, {tb.latex} \right\rangle",
                f"<{ta.text}, {tb.text}>")


def _plus(items: list) -> _Tex:
    ts = [_t(i) for i in items]
    return _Tex(" + ".join(t.latex for t in ts), " + ".join(t.text for t in ts))


def _order_form(e0: Any, e1: Any, big_o: bool = True) -> _Tex:
    """``e0 + ε (e1) + O(ε²)`` (without the ``O(ε²)`` when ``big_o`` is false)."""
    parts = [e0, _Tex(r"+ \varepsilon", " + ε*"), _parens(e1)]
    if big_o:
        parts.append(_Tex(r"+ O\left(\varepsilon^{2}\right)", " + O(ε**2)"))
    return _cat(*parts)


def _leading_minus(e: Any) -> bool:
    if isinstance(e, sp.MatrixBase):
        return False
    if isinstance(e, sp.MatAdd):
        return all(_leading_minus(t) for t in e.args)
    if isinstance(e, sp.MatMul):
        return bool(e.as_coeff_mmul()[0].could_extract_minus_sign())
    return bool(getattr(e, "could_extract_minus_sign", lambda: False)())


def _equation(lhs: Any, rhs: Any) -> tuple:
    """Normalise ``lhs = rhs`` so that the left side does not start with a minus sign."""
    return (-lhs, -rhs) if _leading_minus(lhs) else (lhs, rhs)


# ---- breaking long equations ---------------------------------------------------------------

_COMMAND = re.compile(r"\\([A-Za-z]+)\s*")
_NO_WIDTH = {"left", "right", "bigl", "bigr", "Bigl", "Bigr", "mathsf", "operatorname",
             "text", "mathrm", "displaystyle", "quad", "qquad"}


def _width(tex: str) -> float:
    """A rough estimate of the printed width of ``tex``, in characters."""
    tex = re.sub(r"\\t?frac\{([^{}]*)\}\{([^{}]*)\}",
                 lambda m: "x" * max(len(m.group(1)), len(m.group(2))), tex)
    tex = re.sub(r"\\(operatorname|text|mathrm)\{([^{}]*)\}", r"\2", tex)
    width, i, script = 0.0, 0, 0
    depth_at_script: list = []
    depth = 0
    while i < len(tex):
        ch = tex[i]
        m = _COMMAND.match(tex, i)
        if m:
            name = m.group(1)
            width += 0 if name in _NO_WIDTH else (1.5 if name in ("quad", ",") else 1) * (
                0.7 if script else 1)
            i = m.end()
            continue
        if ch in "^_":
            script += 1
            depth_at_script.append(depth)
            i += 1
            if i < len(tex) and tex[i] != "{":  # a one-character script
                width += 0.7
                script -= 1
                depth_at_script.pop()
                i += 1
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth_at_script and depth == depth_at_script[-1]:
                depth_at_script.pop()
                script -= 1
        elif ch in "+=<>" or (ch == "-" and not script):
            width += 2.4
        elif not ch.isspace() and ch != "\\":
            width += 0.7 if script else 1
        i += 1
    return width


def _scan(tex: str):
    """Walk ``tex`` token by token: yield ``(position, token, depth)``.

    ``token`` is ``"left"`` for ``\\left``, ``"right"`` for ``\\right`` (not the
    arrows) and the character otherwise; ``depth`` counts the braces and
    ``\\left``/``\\right`` groups that enclose the token (for an opening token,
    the depth outside it; for a closing one, the depth after it closes).
    """
    depth, i = 0, 0
    while i < len(tex):
        if tex.startswith(r"\left", i) and not tex.startswith(r"\leftarrow", i):
            yield i, "left", depth
            depth += 1
            i += 5
        elif tex.startswith(r"\right", i) and not tex.startswith(r"\rightarrow", i):
            depth -= 1
            yield i, "right", depth
            i += 6
        else:
            ch = tex[i]
            depth -= ch == "}"
            yield i, ch, depth
            depth += ch == "{"
            i += 1


def _top_level_terms(tex: str) -> list:
    """Split ``tex`` before each ``+``, ``-`` or ``=`` that is outside every group."""
    terms, start = [], 0
    for i, token, depth in _scan(tex):
        if token in ("+", "-", "=") and depth == 0 and i > 0 and tex[i - 1] == " ":
            terms.append(tex[start:i].strip())
            start = i
    terms.append(tex[start:].strip())
    return [t for t in terms if t]


def _open_group(term: str) -> list | None:
    """Split a term ``a \\left( b + c \\right) d`` into pieces that may go on separate
    lines (``\\left``/``\\right`` become ``\\bigl``/``\\bigr``, which may be split).
    Only a group outside every brace is opened; None when there is none to open."""
    start = next((i for i, token, depth in _scan(term)
                  if token == "left" and depth == 0 and term.startswith(r"\left(", i)),
                 -1)
    if start < 0:
        return None
    end = next((start + i for i, token, depth in _scan(term[start:])
                if token == "right" and depth == 0), -1)
    if end < 0:
        return None
    inner = _top_level_terms(term[start + 6:end])
    if len(inner) < 2:
        return None
    head = term[:start] + r"\bigl(" + inner[0]
    tail = inner[-1] + r"\bigr" + term[end + 6:]
    return [head] + inner[1:-1] + [tail]


def _lines(tex: str, width: float | None = None) -> list:
    """Break ``tex`` into lines of at most ``width`` (estimated) characters, default
    :data:`LINE_WIDTH`, after a top-level ``+``, ``−`` or ``=``; a long parenthesised sum
    is opened up when needed."""
    width = LINE_WIDTH if width is None else width
    pieces: list = []
    for term in _top_level_terms(tex):
        if _width(term) > width:
            opened = _open_group(term)
            if opened is not None:
                pieces.extend(p for p in _lines_pieces(opened, width))
                continue
        pieces.append(term)
    lines: list = []
    for piece in pieces:
        indent = 2.5 if lines else 0
        if lines and _width(lines[-1]) + _width(piece) + indent <= width:
            lines[-1] = f"{lines[-1]} {piece}"
        else:
            lines.append(piece)
    return lines


def _lines_pieces(pieces: list, width: float) -> list:
    out = []
    for piece in pieces:
        opened = _open_group(piece) if _width(piece) > width else None
        out.extend(_lines_pieces(opened, width) if opened else [piece])
    return out


def _continued(line: str) -> str:
    """A continuation line: ``{}`` before a leading ``+``/``−`` keeps it a binary sign."""
    return "{} " + line if line[:1] in "+-" else line


def _broken(tex: str, width: float | None = None) -> str:
    """``tex``, broken into an ``aligned`` block when it is too long for one line."""
    lines = _lines(tex, width)
    if len(lines) == 1:
        return lines[0]
    rows = [f"& {lines[0]}"] + [rf"& \quad {_continued(line)}" for line in lines[1:]]
    return r"\begin{aligned}[t]" + r" \\ ".join(rows) + r"\end{aligned}"


def _step_tex(step: _Step) -> str:
    if step.lhs.latex:
        return f"{step.lhs.latex} = {step.rhs.latex}"
    return f"\\phantom{{=}} = {step.rhs.latex}"


#: A left side wider than this (estimated characters) spans both equation columns.
LHS_WIDTH = 14

_MATH = '<span class="math notranslate nohighlight">\\(\\displaystyle {}\\)</span>'
_GRID = ("display:grid;grid-template-columns:max-content max-content minmax(8em,1fr);"
         "column-gap:0.4em;row-gap:0.3em;align-items:baseline;max-width:100%;"
         "overflow-x:auto")
_LABEL = "padding-left:1em;color:#555;font-size:90%;font-style:italic"


def _math_html(tex: str) -> str:
    return _MATH.format(html.escape(tex, quote=False))


def _html_cells(steps: tuple) -> str:
    """The grid cells of the steps: left side, ``=`` right side, label."""
    short = [s for s in steps if _width(s.lhs.latex) <= LHS_WIDTH]
    lhs_width = max((_width(s.lhs.latex) for s in short), default=0)
    width = LINE_WIDTH if lhs_width == 0 else LINE_WIDTH - lhs_width - 2.4
    cells = []
    for s in steps:
        label = (f'<div class="adlib-step-label" style="{_LABEL}">'
                 f"{_note_html(s.note)}</div>")
        if _width(s.lhs.latex) <= LHS_WIDTH:
            lines = _lines(s.rhs.latex, width)
            rhs = (f"= {lines[0]}" if len(lines) == 1 else r"\begin{aligned}[t]& = "
                   + r" \\ & \quad ".join([lines[0]] + [_continued(x) for x in lines[1:]])
                   + r"\end{aligned}")
            lhs = _math_html(s.lhs.latex) if s.lhs.latex else ""
            cells.append(f'<div class="adlib-step-lhs" style="text-align:right">{lhs}</div>'
                         f'<div class="adlib-step-rhs">{_math_html(rhs)}</div>{label}')
        else:
            whole = _broken(_step_tex(s))
            cells.append('<div class="adlib-step-eq" style="grid-column:1 / span 2">'
                         f"{_math_html(whole)}</div>{label}")
    return "".join(cells)


@dataclasses.dataclass(repr=False)
class Derivation:
    """A derivation: a title and its steps (left side, right side, label).

    Shown as a grid of left sides, right sides and labels in notebooks and on the
    book's pages (``_repr_html_``; long equations are broken after a ``+``, labels move
    beneath their equations on narrow screens), as one ``aligned`` block by ``_repr_latex_`` and
    as plain text by ``repr``. The concrete derivations add the result as attributes.
    """

    #: One line saying what is derived.
    title: str
    #: The steps, each a left side, a right side and a label.
    steps: tuple

    def _repr_html_(self) -> str:
        title = html.escape(self.title)
        return (f'<div class="adlib-derivation" role="group" aria-label="{title}" '
                f'style="{_GRID}">{_html_cells(self.steps)}</div>')

    def _repr_latex_(self) -> str:
        rows = []
        for s in self.steps:
            lines = _lines(_step_tex(s))
            rows.append(rf"& {lines[0]} && {_note_tex(s.note)}")
            rows += [rf"& \quad {_continued(line)} &&" for line in lines[1:]]
        return r"$$\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}$$"

    def __repr__(self) -> str:
        width = max(len(_note_text(s.note)) for s in self.steps)
        lines = [f"{self.title}:"]
        for s in self.steps:
            eq = f"{s.lhs.text} = {s.rhs.text}" if s.lhs.text else f"  = {s.rhs.text}"
            lines.append(f"  {_note_text(s.note):<{width}} | {eq}")
        return "\n".join(lines)
