"""Pictures for a page: one drawing of a graph, or a step-through of a pass.

:func:`draw` returns a :class:`Drawing` (an SVG with a legend) and
:func:`animate` a :class:`StepThrough`: one SVG per step with previous / next
/ play buttons.  Both display in a notebook as HTML and work in a static page
without a kernel.  The buttons are wired by the book's script
``_assets/adlib-stepthrough.js`` (any page can load it); without it, the
frames show one below the other, each with its caption.
"""
from __future__ import annotations

import hashlib
from html import escape
from typing import Any

from adlib.graph import dot
from adlib.graph.nodes import GraphArgumentError
from adlib.graph.picture import State, frames, overlay
from adlib.graph.structure import Graph

__all__ = ["Drawing", "StepThrough", "draw", "animate", "animation_html"]


def _alt(graph: Graph, mode: str | None) -> str:
    what = {None: "", "forward": ", with its forward pass",
            "reverse": ", with its reverse pass"}[mode]
    names = lambda nodes: ", ".join(n.key for n in nodes)   # noqa: E731
    return (f"Computational graph of {graph.name}{what}: inputs {names(graph.inputs)}; "
            f"operations {names(graph.ops)}; output {names(graph.outputs)}.")


class Drawing:
    """A drawn graph: :attr:`svg` and a legend, shown as HTML in a notebook.

    Attributes
    ----------
    svg
        The SVG text (scales with its container, see ``adlib.graph.dot.svg``).
    dot
        The Graphviz source it was drawn from.
    alt
        Text alternative for readers who cannot see it.
    """

    def __init__(self, svg: str, source: str, alt: str, legend: str, title: str = ""):
        self.svg, self.dot, self.alt, self.legend, self.title = svg, source, alt, legend, title

    def _repr_html_(self) -> str:
        title = f'<p class="adlib-graph-title">{escape(self.title)}</p>' if self.title else ""
        return f'<div class="adlib-graph">{title}{self.svg}{self.legend}</div>'

    def save(self, path: str) -> None:
        """Write the SVG to ``path``."""
        with open(path, "w", encoding="utf-8") as fh:
            fh.write('<?xml version="1.0" encoding="UTF-8"?>\n' + self.svg)

    def __repr__(self) -> str:
        return f"Drawing({self.alt})"


class StepThrough:
    """A pass shown step by step: one SVG per frame, with a caption each.

    Attributes
    ----------
    frames
        ``(caption, svg)`` per frame, in order.
    """

    def __init__(self, frames_: list[tuple[str, str]], alt: str, legend: str,
                 interval: int):
        self.frames, self.alt, self.legend, self.interval = frames_, alt, legend, interval

    def _repr_html_(self) -> str:
        body = "".join(f'<li class="adlib-step" data-step="{k + 1}"><p class="adlib-step-'
                       f'caption"><b>Step {k + 1} of {len(self.frames)}.</b> '
                       f'{escape(cap)}</p>{svg}</li>'
                       for k, (cap, svg) in enumerate(self.frames))
        key = hashlib.sha1(body.encode()).hexdigest()[:10]
        controls = (
            '<div class="adlib-stepper-controls" hidden>'
            '<button type="button" data-action="first" aria-label="first step">⇤</button>'
            '<button type="button" data-action="prev" aria-label="previous step">◀</button>'
            '<button type="button" data-action="play" aria-label="play">▶ play</button>'
            '<button type="button" data-action="next" aria-label="next step">▶</button>'
            '<span class="adlib-stepper-count" aria-live="polite"></span></div>')
        return (f'<div class="adlib-stepper" id="stepper-{key}" data-interval='
                f'"{self.interval}" role="group" aria-label="{escape(self.alt)}">'
                f'{controls}<ol class="adlib-steps" style="list-style: none; padding: 0">'
                f'{body}</ol>{self.legend}</div>')

    def __len__(self) -> int:
        return len(self.frames)

    def __repr__(self) -> str:
        return f"StepThrough({len(self.frames)} frames: {self.alt})"


def draw(graph: Graph, mode: str | None = None, tangents: Any = None, cotangent: Any = None,
         symbols: dict | None = None, title: str | None = None) -> Drawing:
    """Draw a traced graph top to bottom: inputs, operations, outputs.

    Parameters
    ----------
    graph
        From :func:`~adlib.graph.trace`.
    mode
        ``None``: the computation (node names, values of scalars, shapes of
        arrays).  ``'forward'``: also each node's tangent (under its value)
        and the term each edge contributes.  ``'reverse'``: the values stored
        for the backward pass (highlighted), each node's adjoint, and the
        contributions flowing back along the edges; where a value is used
        several times its note reads ``x̄ = x̄₁ + x̄₂``.
    tangents, cotangent
        Seeds for the passes, as for :meth:`Graph.forward_pass` and
        :meth:`Graph.reverse_pass`.  Defaults: 1 for scalar inputs (rounded
        random entries, seed 0, for arrays); 1 for a scalar output.
    symbols
        Symbols for the values of nodes, by node key, used in the tangent and
        adjoint notes: ``{'sin': 's', 'multiply': 'z'}`` gives ``ṡ``, ``z̄``.
        Default: one-letter input names get their accent (``ẋ``, ``W̄₁``),
        operations are written ``v`` with the node key as subscript.
    title
        A line of text above the picture.

    Returns
    -------
    Drawing
        Displays as HTML (an SVG that scales with the page, and a legend).
    """
    state = overlay(graph, mode, tangents, cotangent, symbols or {})
    its = dot.items(graph)
    source = dot.dot_source(graph, state, its)
    alt = _alt(graph, mode)
    stored = mode == "reverse" and bool(graph.stored_values())
    return Drawing(dot.svg(source, alt), source, alt, dot.legend(its, mode, stored),
                   title or "")


def animate(graph: Graph, mode: str = "forward", tangents: Any = None, cotangent: Any = None,
            symbols: dict | None = None, max_frames: int = 15,
            interval: int = 1500) -> StepThrough:
    """A pass shown step by step, for a page: previous / next / play.

    Parameters
    ----------
    graph
        From :func:`~adlib.graph.trace`.
    mode
        ``'forward'``: primal values and tangents appear node by node in
        topological order.  ``'reverse'``: first the forward sweep, which keeps
        the values the VJP rules will read (highlighted), then the adjoints
        flowing backwards node by node, accumulating where a value fans out.
    tangents, cotangent, symbols
        As for :func:`draw`.
    max_frames
        Upper bound on the number of frames; consecutive steps are merged to
        stay below it.
    interval
        Milliseconds per frame when playing.

    Returns
    -------
    StepThrough
        Displays as HTML; all frames share one layout.
    """
    if mode not in ("forward", "reverse"):
        raise GraphArgumentError(f"animate: mode must be 'forward' or 'reverse', got {mode!r}")
    states: list[State] = frames(graph, mode, tangents, cotangent, symbols or {}, max_frames)
    its = dot.items(graph)
    alt = _alt(graph, mode) + " Step by step."
    out = [(s.caption, dot.svg(dot.dot_source(graph, s, its), alt)) for s in states]
    stored = mode == "reverse" and bool(graph.stored_values())
    return StepThrough(out, alt, dot.legend(its, mode, stored), interval)


def animation_html(graph: Graph, mode: str = "forward", **kwargs: Any):
    """The step-through of :func:`animate` as an ``IPython.display.HTML`` object.

    Keyword arguments go to :func:`animate`.
    """
    from IPython.display import HTML
    return HTML(animate(graph, mode, **kwargs)._repr_html_())
