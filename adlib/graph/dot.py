"""Layout and drawing: a picture of a graph as Graphviz ``dot`` source, then as SVG.

Graphviz (the ``dot`` program, Debian package ``graphviz``, driven through the
PyPI package ``graphviz``) lays the graph out top to bottom: inputs at the top,
outputs at the bottom, constants beside the operations that read them.  Every
frame of a step-through is drawn from the same text with different colours
(hidden text takes the colour of its background), so all frames share one
layout.  The SVG is made deterministic and scalable: no comments or version
strings, no ids, a ``viewBox`` with ``width: 100%`` and a ``max-width`` of its
natural size, so that it shrinks with the text column and never grows blurry.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np

from adlib.engine import _primal
from adlib.errors import AdlibError
from adlib.graph.nodes import GraphNode, is_numeric, num, shape_text
from adlib.graph.picture import State
from adlib.graph.structure import Graph

__all__ = ["GraphvizMissingError", "dot_source", "svg", "min_font_px"]

STYLE = {
    "input": dict(face="#dcefd6", edge="#3f7f35", name="input"),
    "op": dict(face="#dfe8f6", edge="#3a64a8", name="primitive"),
    "custom": dict(face="#efe0f5", edge="#7e3fa0", name="custom rule"),
    "output": dict(face="#fbe5cc", edge="#b86a1d", name="output"),
    "const": dict(face="#ffffff", edge="#8a8a8a", name="constant / data"),
    "residual": dict(face="#ffffff", edge="#7e3fa0", name="residual of a custom rule"),
}
FORWARD = "#1f5fbf"       # tangents
REVERSE = "#c0392b"       # adjoints
STORED = "#ffd966"        # fill of values stored for the backward sweep
ACTIVE = "#111111"        # border of the nodes of the current step
PENDING = dict(face="#f3f3f3", edge="#c4c4c4", text="#b0b0b0")   # not computed yet
BACKGROUND = "#ffffff"
# Graphviz measures text with its own metrics of Helvetica; browsers draw it with
# whatever sans-serif font they have, up to ~15 % wider (DejaVu Sans, Verdana).
# So the layout uses text 8/7 larger than the text drawn: labels always fit.
FONT = "Helvetica"
FONT_DRAWN = "DejaVu Sans,Verdana,Helvetica,Arial,sans-serif"
SIZE_TITLE, SIZE_TEXT = 14, 12      # drawn, in the SVG's own units (points)
LAYOUT_SCALE = 8 / 7
SMALL = ("const", "residual")


class GraphvizMissingError(AdlibError, RuntimeError):
    """Graphviz's ``dot`` program (or the ``graphviz`` Python package) is not installed."""


@dataclass
class Item:
    """Something drawn: a graph node, or a constant or residual feeding one."""

    id: str
    kind: str
    title: str
    sub: str
    node: GraphNode | None = None
    value: Any = None
    targets: list = field(default_factory=list)


def _sub(value: Any) -> str:
    """The second line of a node: a scalar's value (3 significant digits) or a shape."""
    if isinstance(value, tuple):
        return ", ".join(_sub(v) for v in value)
    v = _primal(value)
    if not is_numeric(v):
        return ""
    return num(float(np.real(v))) if np.ndim(v) == 0 else shape_text(np.shape(v))


def items(graph: Graph) -> list[Item]:
    """The graph's nodes, then one item per distinct constant, then custom residuals."""
    out = [Item(f"n{n.index}", "custom" if n.is_custom else n.kind, n.name, _sub(n.value),
                node=n) for n in graph.nodes]
    consts: dict[int, Item] = {}

    def const(value, title, sub, target):
        it = consts.get(id(value))
        if it is None:
            it = consts[id(value)] = Item(f"c{len(consts)}", "const", title, sub,
                                          value=value)
            out.append(it)
        if target not in it.targets:
            it.targets.append(target)

    for n in graph.ops:
        for j, a in n.constants.items():
            name = n.const_names.get(j)
            if name:
                const(a, name, _sub(a), n)
            elif np.ndim(a) == 0:
                const(a, num(float(np.real(a))), "", n)
            else:
                const(a, "constant", _sub(a), n)
    for n in graph.ops:        # stored arguments that are not numbers (LU factors, ...)
        for label, value, source in graph._node_reads(n):
            if source is None and n.prim is not None and not is_numeric(value):
                const(value, label, "", n)
    for n in graph.ops:        # residuals that a custom_vjp rule computed for itself
        if n.is_custom:
            extra = [v for _, v, source in graph._node_reads(n) if source is None]
            out += [Item(f"r{n.index}_{k}", "residual", f"residual {k}", _sub(v), value=v,
                         targets=[n]) for k, v in enumerate(extra)]
    return out


def _layout_size(size: float) -> str:
    return f"{size * LAYOUT_SCALE:.2f}"


def _font(text: str, color: str, size: int | None = None, bold: bool = False) -> str:
    inner = f"<B>{text}</B>" if bold else text
    pt = f' POINT-SIZE="{_layout_size(size)}"' if size else ""
    return f'<FONT COLOR="{color}"{pt}>{inner}</FONT>'


def _label(rows: list[str]) -> str:
    cells = "".join(f"<TR><TD>{r}</TD></TR>" for r in rows)
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{cells}</TABLE>>'


def dot_source(graph: Graph, state: State, graph_items: list[Item] | None = None) -> str:
    """The Graphviz source of one picture (deterministic: no ids from memory)."""
    its = items(graph) if graph_items is None else graph_items
    node_item = {it.node.index: it for it in its if it.node is not None}
    done = (lambda i: True) if state.done is None else (lambda i: i in state.done)
    stored_nodes: set = set()
    stored_consts: set = set()
    if state.mode == "reverse":
        svs = graph.stored_values()
        stored_nodes = ({sv.source.index for sv in svs if sv.source is not None}
                        if state.stored is None else state.stored)
        stored_consts = ({id(sv.value) for sv in svs if sv.source is None}
                         if state.stored_consts is None else state.stored_consts)
    ink = FORWARD if state.mode == "forward" else REVERSE
    lines = [
        "digraph G {",
        f'  graph [rankdir=TB, nodesep=0.3, ranksep=0.32, bgcolor="{BACKGROUND}", '
        f'pad=0.1, fontname="{FONT}"];',
        f'  node [shape=box, style="rounded,filled", penwidth=1.6, margin="0.08,0.03", '
        f'fontname="{FONT}", fontsize={_layout_size(SIZE_TITLE)}];',
        f'  edge [fontname="{FONT}", fontsize={_layout_size(SIZE_TEXT)}, arrowsize=0.7, '
        f'penwidth=1.2];',
    ]
    for it in its:
        st = STYLE[it.kind]
        alive = done(it.node.index) if it.node is not None else \
            any(done(t.index) for t in it.targets)
        stored = (it.node is not None and it.node.index in stored_nodes) or \
            (it.node is None and id(it.value) in stored_consts)
        face = STORED if stored else (st["face"] if alive else PENDING["face"])
        border = ACTIVE if (it.node is not None and it.node.index in state.active) else \
            (st["edge"] if alive else PENDING["edge"])
        text = "#222222" if alive else PENDING["text"]
        small = it.kind in SMALL
        rows = [_font(escape(it.title), text, SIZE_TEXT if small else None, bold=not small)]
        if it.sub:
            rows.append(_font(escape(it.sub), "#555555" if alive else face, SIZE_TEXT))
        if it.node is not None and it.node.index in state.notes:
            color = ink if state.shows(("node", it.node.index)) else face
            rows += [_font(line, color, SIZE_TEXT) for line in state.notes[it.node.index]]
        style = "rounded,filled,dashed" if small else "rounded,filled"
        lines.append(f'  {it.id} [label={_label(rows)}, fillcolor="{face}", '
                     f'color="{border}", style="{style}"];')
    for it in its:
        for t in it.targets:
            lines.append(f'  {it.id} -> {node_item[t.index].id} [style=dashed, '
                         f'color="{STYLE[it.kind]["edge"]}", arrowhead=open];')
    for e in graph.edges:
        a, b = node_item[e.parent.index].id, node_item[e.child.index].id
        attrs = []
        if e.index in state.edges and state.mode in ("forward", "reverse"):
            attrs += [f'color="{ink}"', "penwidth=2"]
            if state.mode == "reverse":
                attrs.append("dir=back")
        else:
            attrs.append('color="#555555"')
        text = state.labels.get(e.index)
        if text:
            color = ink if state.shows(("edge", e.index)) else BACKGROUND
            attrs.append(f"label=<{_font(text, color)}>")
        lines.append(f"  {a} -> {b} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _run_dot(source: str) -> str:
    try:
        import graphviz
    except ImportError:
        raise GraphvizMissingError(
            "adlib.graph draws with Graphviz: install the Python package `graphviz` "
            "(pip install graphviz) and the `dot` program (Debian/Ubuntu: apt-get install "
            "graphviz; macOS: brew install graphviz).") from None
    try:
        return graphviz.Source(source).pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound:
        raise GraphvizMissingError(
            "adlib.graph draws with Graphviz's `dot` program, which is not on the PATH. "
            "Install it: Debian/Ubuntu `apt-get install graphviz`, macOS `brew install "
            "graphviz`.") from None


def svg(source: str, alt: str) -> str:
    """Run ``dot`` on ``source``; return an SVG that scales with its container.

    The SVG keeps its ``viewBox``; ``width="100%"`` and a ``max-width`` of its
    natural size (points of Graphviz drawn as 4/3 pixels, as a browser draws
    ``pt``) make it fit a narrow column and never exceed its natural size.  It
    carries ``role="img"`` and ``alt`` as its accessible name and title.
    """
    out = _run_dot(source)
    out = re.sub(r"<\?xml.*?\?>|<!DOCTYPE.*?>|<!--.*?-->", "", out, flags=re.S)
    out = re.sub(r"<title>.*?</title>", "", out, flags=re.S)
    out = re.sub(r'\s(id|class)="[^"]*"', "", out)
    m = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', out)
    if m is None:
        raise GraphvizMissingError("unexpected output of `dot -Tsvg`: no <svg width=.. "
                                   "height=..> (is Graphviz >= 2.38 installed?)")
    width_px = round(float(m.group(1)) * 4 / 3)
    key = hashlib.sha1(source.encode()).hexdigest()[:10]
    out = out.replace(
        m.group(0),
        f'<svg role="img" aria-label="{escape(alt)}" data-graph="{key}" width="100%" '
        f'style="max-width: {width_px}px; height: auto; display: block; margin: 0 auto"')
    out = re.sub(r"(<svg[^>]*>)", lambda mm: mm.group(1) + f"<title>{escape(alt)}</title>",
                 out, count=1)
    out = re.sub(r'font-size="([\d.]+)"',
                 lambda mm: f'font-size="{float(mm.group(1)) / LAYOUT_SCALE:.2f}"', out)
    out = re.sub(r'font-family="[^"]*"', f'font-family="{FONT_DRAWN}"', out)
    out = re.sub(r"\n\s*\n", "\n", out)
    return out.strip() + "\n"


def min_font_px(svg_text: str, column_px: float) -> float:
    """The smallest text of an SVG from :func:`svg`, in pixels, at a column width."""
    vb = re.search(r'viewBox="[-\d.]+ [-\d.]+ ([\d.]+) [\d.]+"', svg_text)
    max_w = re.search(r"max-width: (\d+)px", svg_text)
    sizes = [float(s) for s in re.findall(r'font-size="([\d.]+)"', svg_text)]
    shown = min(column_px, float(max_w.group(1)))
    return min(sizes) * shown / float(vb.group(1))


def legend(graph_items: list[Item], mode: str | None, stored: bool) -> str:
    """An HTML legend for the kinds of items present and the mode's colours."""
    kinds = [k for k in STYLE if any(it.kind == k for it in graph_items)]
    parts = []
    for k in kinds:
        st = STYLE[k]
        dash = "dashed" if k in SMALL else "solid"
        parts.append(f'<span style="white-space: nowrap"><span style="display: inline-block; '
                     f'width: 0.9em; height: 0.9em; background: {st["face"]}; border: 1.5px '
                     f'{dash} {st["edge"]}; border-radius: 3px; vertical-align: -0.1em">'
                     f'</span> {st["name"]}</span>')
    if mode == "forward":
        parts.append(f'<span style="color: {FORWARD}; white-space: nowrap">→ tangents '
                     f'(ẋ)</span>')
    elif mode == "reverse":
        parts.append(f'<span style="color: {REVERSE}; white-space: nowrap">← adjoints '
                     f'(x̄)</span>')
        if stored:
            parts.append(f'<span style="white-space: nowrap"><span style="display: '
                         f'inline-block; width: 0.9em; height: 0.9em; background: {STORED}; '
                         f'border-radius: 3px; vertical-align: -0.1em"></span> stored for '
                         f'the backward sweep</span>')
    return ('<p class="adlib-graph-legend" style="font-size: 0.85em; margin: 0.3em 0 0; '
            'text-align: center">' + " &#160;·&#160; ".join(parts) + "</p>")
