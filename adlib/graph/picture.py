"""What a picture of a graph shows: the text of every node and edge, frame by frame.

A picture is described by a :class:`State`, independently of how it is drawn
(:mod:`adlib.graph.dot` turns it into SVG).  The texts of a mode (each node's
tangent or adjoint, the term or contribution on each edge) are computed once
from a complete pass; the frames of a step-through only say which of those
texts are visible yet, so that every frame has the same layout.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np

from adlib import tree
from adlib.engine import _primal, shape_of
from adlib.graph.nodes import GraphArgumentError, GraphNode, is_scalar, num, zeros_like
from adlib.graph.passes import Pass
from adlib.graph.structure import Graph

DOT_ABOVE, MACRON, OVERLINE = "\u0307", "\u0304", "\u0305"


@dataclass
class State:
    """What one picture (or one frame of a step-through) shows."""

    mode: str | None = None
    #: Nodes whose primal values are shown (``None``: all).
    done: set | None = None
    #: Edges drawn in the mode's colour (tangents forward, adjoints backward).
    edges: set = field(default_factory=set)
    #: Nodes shown as stored for the backward sweep (``None``: all that are).
    stored: set | None = None
    #: ``id``\ s of constants shown as stored (``None``: all that are).
    stored_consts: set | None = None
    #: Nodes highlighted in this step.
    active: set = field(default_factory=set)
    #: Edge index -> text (markup of Graphviz HTML labels); all of the mode's.
    labels: dict = field(default_factory=dict)
    #: Node index -> lines of text under the node; all of the mode's.
    notes: dict = field(default_factory=dict)
    #: Which labels and notes are visible (``None``: all).
    visible: set | None = None
    caption: str = ""

    def shows(self, what: tuple) -> bool:
        """Whether ``('edge', i)`` or ``('node', i)`` has its text visible."""
        return self.visible is None or what in self.visible


SUBSCRIPT = str.maketrans("0123456789,", "₀₁₂₃₄₅₆₇₈₉‚")
SUPERSCRIPT = str.maketrans("0123456789×", "⁰¹²³⁴⁵⁶⁷⁸⁹ˣ")


def symbol(node: GraphNode, mode: str, symbols: dict, index: str = "") -> str:
    """The tangent (``ẋ``) or adjoint (``x̄``) of a node, as Graphviz label text.

    ``symbols`` maps node keys to symbols (``{'sin': 's'}``).  By default a
    one-letter name, with optional digits, gets its accent (``ẋ``, ``W̄₁``);
    any longer name (an operation's key, ``matmul_2``) gets the accent on
    every letter, a line over the whole name in reverse mode.  ``index``
    numbers one contribution among several (``x̄₂``).
    """
    acc = DOT_ABOVE if mode == "forward" else MACRON
    sub = ""
    if node.key in symbols:
        text = escape(str(symbols[node.key])) + acc
    else:
        m = re.fullmatch(r"([A-Za-z])(\d*)", node.key)
        if m:
            text, sub = m.group(1) + acc, m.group(2)
        else:
            name, _, number = re.fullmatch(r"(.*?)(_(\d+))?", node.key.lstrip("_")).groups()
            mark = DOT_ABOVE if mode == "forward" else OVERLINE
            text, sub = "".join(escape(ch) + mark for ch in name), number or ""
    subs = ",".join(x for x in (sub, index) if x)
    return text + subs.translate(SUBSCRIPT)


def space(value: Any) -> str:
    """``ℝ⁴ˣ³``: the space of an array value."""
    return "ℝ" + "×".join(str(n) for n in shape_of(value)).translate(SUPERSCRIPT)


def texts(graph: Graph, p: Pass, symbols: dict) -> tuple[dict, dict]:
    """Edge labels and node notes of a complete pass.

    Forward, each edge carries the term of its child's tangent; reverse, the
    contribution the child sends back to its parent.  Where a value fans out,
    each contribution is numbered (``x̄₁``) and the note of the value reads
    ``x̄ = x̄₁ + x̄₂ = ...``.  Scalars are shown with three significant digits;
    for arrays the note says which space the tangent or adjoint lives in and
    the edges stay unlabelled.
    """
    mode = p.mode
    labels, notes = {}, {}
    number = {}                      # reverse: edge -> its position among the contributions
    for node in graph.nodes:
        terms = p.contributions(node) if mode == "reverse" else []
        if len(terms) > 1 and not isinstance(node.value, tuple):
            for k, (e, _) in enumerate(terms):
                number[e.index] = k + 1
    for node in graph.nodes:
        for e in (graph.incoming(node) if node.kind != "output" else []):
            v = p.edge_value(e)
            if v is None or not is_scalar(v):
                continue
            k = number.get(e.index)
            labels[e.index] = (f"{symbol(e.parent, mode, symbols, str(k))} = {num(float(v))}"
                               if k else num(float(v)))
        if mode == "forward" and node.kind == "output":
            continue
        sym = symbol(node, mode, symbols)
        n_terms = sum(1 for e in node.children if e.index in number)
        val = p[node]
        val = zeros_like(node.value) if val is None else val
        if isinstance(node.value, tuple):
            value = ""
        elif is_scalar(val):
            value = "= " + num(float(_primal(val)))
        else:
            value = "∈ " + space(node.value)
        if n_terms:            # x̄ = x̄₁ + x̄₂ on one line, its value on the next
            parts = " + ".join(symbol(node, mode, symbols, str(k + 1)) for k in range(n_terms))
            notes[node.index] = [f"{sym} = {parts}"] + ([value] if value else [])
        else:
            notes[node.index] = [f"{sym} {value}".rstrip()]
    return labels, notes


def run(graph: Graph, mode: str, tangents: Any, cotangent: Any) -> Pass:
    """The pass of ``mode`` with the given seeds (defaults as in :func:`default_tangents`)."""
    if mode == "forward":
        return graph.forward_pass(default_tangents(graph) if tangents is None else tangents)
    if mode == "reverse":
        return graph.reverse_pass(cotangent)
    raise GraphArgumentError(f"mode must be None, 'forward' or 'reverse', got {mode!r}")


def default_tangents(graph: Graph) -> tuple:
    """Tangent 1 for every scalar input, random (seeded) entries for arrays."""
    rng = np.random.default_rng(0)
    out = []
    for _, td, nodes in graph._arg_defs:
        leaves = [1.0 if shape_of(n.value) == () else
                  np.round(rng.standard_normal(shape_of(n.value)), 2) for n in nodes]
        out.append(tree.unflatten(td, leaves))
    return tuple(out)


def overlay(graph: Graph, mode: str | None, tangents: Any, cotangent: Any,
            symbols: dict) -> State:
    """The complete picture of one mode: every node and edge value shown."""
    state = State(mode=mode)
    if mode is None:
        return state
    p = run(graph, mode, tangents, cotangent)
    state.edges = {e.index for e in graph.edges}
    state.labels, state.notes = texts(graph, p, symbols)
    return state


def _visible(graph: Graph, processed: set) -> set:
    """Texts visible once the nodes in ``processed`` are done: theirs and their in-edges'."""
    vis = {("node", i) for i in processed}
    vis |= {("edge", e.index) for e in graph.edges if e.child.index in processed}
    return vis


def group(steps: list[list[int]], budget: int) -> list[list[int]]:
    """Merge consecutive steps so that there are at most ``budget`` of them."""
    budget = max(budget, 1)
    if len(steps) <= budget:
        return steps
    n = len(steps)
    return [[i for s in steps[(b * n) // budget:((b + 1) * n) // budget] for i in s]
            for b in range(budget)]


def frames(graph: Graph, mode: str, tangents: Any, cotangent: Any, symbols: dict,
           max_frames: int) -> list[State]:
    """The states of a step-through, one per frame."""
    p = run(graph, mode, tangents, cotangent)
    labels, notes = texts(graph, p, symbols)
    inputs = [n.index for n in graph.inputs]
    ops = [[n.index] for n in graph.ops]
    outputs = [n.index for n in graph.outputs]
    fwd = [inputs] + ops
    if ops:
        fwd[-1] = fwd[-1] + outputs            # the outputs appear with the last operation
    else:
        fwd.append(outputs)
    fwd = [g for g in fwd if g]
    states: list[State] = []

    def op_names(group_):
        return ", ".join(graph.nodes[i].key for i in group_ if graph.nodes[i].kind == "op")

    if mode == "forward":
        fwd = group(fwd, max_frames)
        done: set = set()
        for k, grp in enumerate(fwd):
            done |= set(grp)
            s = State(mode="forward", done=set(done), active=set(grp), labels=labels,
                      notes=notes, visible=_visible(graph, done))
            s.edges = {e.index for e in graph.edges if e.child.index in done}
            names = op_names(grp)
            s.caption = (f"{names}: value and tangent (the JVP rule of each argument, "
                         f"summed)" if names else "Seed the input tangents.")
            states.append(s)
        return states

    rev = [[i for i in p.steps if graph.nodes[i].kind == "output"]] + \
        [[i] for i in p.steps if graph.nodes[i].kind == "op"] + \
        [[i for i in p.steps if graph.nodes[i].kind == "input"]]
    rev = [g for g in rev if g]
    if len(fwd) + len(rev) > max_frames:
        n_rev = min(len(rev), max(max_frames - len(fwd), -(-2 * max_frames // 3)))
        rev = group(rev, n_rev)
        fwd = group(fwd, max(max_frames - len(rev), 1))
    svs = graph.stored_values()
    done, stored, stored_consts = set(), set(), set()
    for grp in fwd:
        done |= set(grp)
        new = [sv for sv in svs if min(u.index for u in sv.needed_by) in grp]
        stored |= {sv.source.index for sv in new if sv.source is not None}
        stored_consts |= {id(sv.value) for sv in new if sv.source is None}
        s = State(mode="reverse", done=set(done), stored=set(stored),
                  stored_consts=set(stored_consts), active=set(grp), labels=labels,
                  notes=notes, visible=set())
        names, keep = op_names(grp), ", ".join(sv.label for sv in new)
        s.caption = ("Forward sweep: " +
                     (f"compute {names}; " + (f"store {keep}." if keep else "nothing to store.")
                      if names else "the inputs."))
        states.append(s)
    processed: set = set()
    everything = set(range(len(graph.nodes)))
    for grp in rev:
        processed |= set(grp)
        s = State(mode="reverse", done=everything, active=set(grp), labels=labels,
                  notes=notes, visible=_visible(graph, processed))
        s.edges = {e.index for e in graph.edges if e.child.index in processed}
        kinds = {graph.nodes[i].kind for i in grp}
        s.caption = ("Backward sweep: " +
                     ("seed the output adjoint." if kinds == {"output"} else
                      "the input adjoints are the sums of their contributions."
                      if kinds == {"input"} else
                      f"{op_names(grp)}: the VJP rules send contributions to the inputs."))
        states.append(s)
    return states
