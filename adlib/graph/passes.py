"""The two passes over a traced graph, node by node, with the library's own rules."""
from __future__ import annotations

from typing import Any

import numpy as np

from adlib import tree
from adlib.engine import _dense, shape_of
from adlib.errors import ShapeError, TracingError
from adlib.graph import rules
from adlib.graph.nodes import Edge, GraphNode, UnknownNodeError, describe_value, zeros_like
from adlib.graph.structure import Graph

__all__ = ["Pass", "forward_pass", "reverse_pass"]


def forward_pass(graph: Graph, tangents: Any) -> Pass:
    """The forward pass behind ``Graph.forward_pass``, documented there."""
    seeds = _input_seeds(graph, tangents)
    node_vals: list = [None] * len(graph.nodes)
    edge_vals: list = [None] * len(graph.edges)
    for n in graph.inputs:
        node_vals[n.index] = seeds[n.index]
    for node in graph.nodes:
        if node.kind == "input":
            continue
        in_edges = graph._incoming[node.index]
        ts = [node_vals[e.parent.index] for e in in_edges]
        if node.kind == "output":
            terms = ts
            total = ts[0] if ts else zeros_like(node.value)
        elif node.selector is not None:
            terms = [ts[0][node.selector]]
            total = terms[0]
        elif node.prim is not None:
            terms = [rules.jvp_term(node.node, node.argnums[slot], t) for slot, t in enumerate(ts)]
            total = _broadcast(_sum(terms), shape_of(node.value))
        else:
            terms, total = _custom_jvp_terms(node, ts)
        for e, t in zip(in_edges, terms):
            edge_vals[e.index] = t
        node_vals[node.index] = total
    steps = [n.index for n in graph.nodes]
    return Pass(graph, "forward", node_vals, edge_vals, steps)

def reverse_pass(graph: Graph, cotangent: Any = None) -> Pass:
    """The reverse pass behind ``Graph.reverse_pass``, documented there."""
    seeds = _output_seeds(graph, cotangent)
    node_vals: list = [None] * len(graph.nodes)
    edge_vals: list = [None] * len(graph.edges)
    arrived: list[list] = [[] for _ in graph.nodes]
    steps = []
    for node in reversed(graph.nodes):
        if node.kind == "output":
            g = seeds[node.index]
        else:
            g = None
            for ct in arrived[node.index]:
                g = _add(g, ct)
        node_vals[node.index] = g
        steps.append(node.index)
        if not node.parents:
            continue
        in_edges = graph._incoming[node.index]
        if g is None:
            cts = [None] * len(in_edges)
        elif node.kind == "output":
            cts = [g]
        else:
            cts = node.node.cotangents(g)
        for e, ct in zip(in_edges, cts):
            ct = None if ct is None else _dense(ct)   # e.g. the scatter of x[i]
            edge_vals[e.index] = ct
            if ct is not None:
                arrived[e.parent.index].append(ct)
    return Pass(graph, "reverse", node_vals, edge_vals, steps)

def _input_seeds(graph: Graph, tangents) -> dict:
    inputs = graph.inputs
    seeds: dict = {}
    if isinstance(tangents, dict) and all(isinstance(k, str) for k in tangents):
        unknown = [k for k in tangents if k not in graph._by_key
                   or graph._by_key[k].kind != "input"]
        if unknown:
            raise UnknownNodeError(f"forward_pass: {unknown} are not inputs of '{graph.name}'; "
                           f"its inputs are {[n.key for n in inputs]}")
        for n in inputs:
            t = tangents.get(n.key)
            seeds[n.index] = zeros_like(n.value) if t is None else t
    else:
        if not isinstance(tangents, (tuple, list)):
            tangents = (tangents,)
        if len(tangents) != len(graph._arg_defs):
            raise ShapeError(f"forward_pass: got {len(tangents)} tangents but '{graph.name}' "
                             f"has {len(graph._arg_defs)} traced arguments; give one "
                             f"tangent per traced argument, as for adlib.jvp")
        for (i, td, nodes), t in zip(graph._arg_defs, tangents):
            leaves, ttd = tree.flatten(t)
            if ttd != td:
                raise ShapeError(f"forward_pass: the tangent for argument {i} has "
                                 f"structure {ttd!r}, the argument has {td!r}")
            for n, leaf in zip(nodes, leaves):
                seeds[n.index] = leaf
    for n in inputs:
        t = seeds[n.index]
        if shape_of(t) != shape_of(n.value):
            raise ShapeError(f"forward_pass: the tangent for input '{n.key}' has shape "
                             f"{shape_of(t)} but the input has shape {shape_of(n.value)}")
    return seeds

def _output_seeds(graph: Graph, cotangent) -> dict:
    outs = graph.outputs
    if cotangent is None:
        if len(outs) != 1 or shape_of(outs[0].value) != ():
            raise ShapeError(f"reverse_pass: '{graph.name}' does not return a single "
                             f"scalar, so give a cotangent with the structure and shapes "
                             f"of its output")
        cotangent = np.ones((), dtype=np.result_type(outs[0].value, np.float64))[()]
    leaves, td = tree.flatten(cotangent)
    if td != graph._out_td:
        raise ShapeError(f"reverse_pass: the cotangent has structure {td!r} but the "
                         f"output of '{graph.name}' has structure {graph._out_td!r}")
    seeds = {}
    for n, c in zip(outs, leaves):
        if shape_of(c) != shape_of(n.value):
            raise ShapeError(f"reverse_pass: the cotangent for output '{n.key}' has shape "
                             f"{shape_of(c)} but the output has shape {shape_of(n.value)}")
        seeds[n.index] = c
    return seeds



def _custom_jvp_terms(node: GraphNode, ts: list) -> tuple[list, Any]:
    info = rules.custom_record(node.node)
    if info is None or info.kind != "custom_jvp":
        raise TracingError(
            f"cannot push a tangent forward through '{node.name}': it is a custom_vjp "
            f"function, which has a reverse-mode rule only (adlib.jvp refuses it too). "
            f"Use reverse_pass, or define '{node.name}' with ad.custom_jvp.")
    rule, nondiff, primals = info.rule, info.nondiff, info.primals
    leaves, td, boxed = info.primal_leaves, info.td, info.boxed_idx

    def push(tans_by_slot):
        tl = [zeros_like(x) for x in leaves]
        for k, t in zip(boxed, tans_by_slot):
            if t is not None:
                tl[k] = t
        _, t_out = rule.jvp(*nondiff, primals, tuple(tree.unflatten(td, tl)))
        t_leaves = tree.flatten(t_out)[0]
        return t_leaves[0] if node.node.n_out == 1 else tuple(t_leaves)

    total = push(ts)
    terms = [push([t if j == slot else None for j, t in enumerate(ts)])
             for slot in range(len(ts))]
    return terms, total


def _broadcast(t, shape):
    return t if shape_of(t) == shape else np.array(np.broadcast_to(t, shape))


def _sum(terms):
    total = None
    for t in terms:
        total = t if total is None else total + t
    return total


def _add(a, b):
    """a + b with None as zero; lists (multi-output cotangents) entry by entry."""
    if a is None:
        return b
    if b is None:
        return a
    if type(a) is list:
        return [_add(x, y) for x, y in zip(a, b)]
    return a + b


class Pass:
    """The values of one forward or reverse pass over a :class:`Graph`.

    Index it with a node, a node key or a node index to get that node's
    tangent (forward) or adjoint (reverse).

    Attributes
    ----------
    graph
        The graph.
    mode
        ``'forward'`` or ``'reverse'``.
    steps
        Node indices in the order the pass processed them.
    """

    def __init__(self, graph: Graph, mode: str, node_values: list, edge_values: list,
                 steps: list[int]):
        self.graph, self.mode, self.steps = graph, mode, steps
        self._node_values, self._edge_values = node_values, edge_values

    def __getitem__(self, key: str | int | GraphNode) -> Any:
        return self._node_values[self.graph.node(key).index]

    def edge_value(self, edge: Edge) -> Any:
        """What travels along ``edge``: a tangent term (forward) or a contribution (reverse)."""
        return self._edge_values[edge.index]

    def contributions(self, key: str | int | GraphNode) -> list[tuple[Edge, Any]]:
        """The terms a node's value is the sum of, with their edges.

        Forward: the terms on the node's incoming edges.  Reverse: the
        contributions on its outgoing edges, in the order they arrived (a value
        used three times has three).
        """
        node = self.graph.node(key)
        if self.mode == "forward":
            edges = self.graph.incoming(node)
        else:
            rank = {i: k for k, i in enumerate(self.steps)}
            edges = sorted(node.children, key=lambda e: (rank[e.child.index], e.slot))
        return [(e, self._edge_values[e.index]) for e in edges
                if self._edge_values[e.index] is not None]

    @property
    def outputs(self) -> Any:
        """Forward: the output tangent, structured like ``f``'s output (as :func:`adlib.jvp`)."""
        vals = [self._fill(n) for n in self.graph.outputs]
        return tree.unflatten(self.graph._out_td, vals)

    @property
    def inputs(self) -> tuple:
        """Reverse: one adjoint per traced argument (as the function of :func:`adlib.vjp`)."""
        out = []
        for _, td, nodes in self.graph._arg_defs:
            out.append(tree.unflatten(td, [self._fill(n) for n in nodes]))
        return tuple(out)

    def _fill(self, node):
        v = self._node_values[node.index]
        return zeros_like(node.value) if v is None else v

    def summary(self, digits: int = 3) -> str:
        """One line per node, in the order processed: value and, where several, the terms."""
        sym = "tangent" if self.mode == "forward" else "adjoint"
        lines = [f"{self.mode} pass over '{self.graph.name}'"]
        width = max(len(n.key) for n in self.graph.nodes)
        for i in self.steps:
            node = self.graph.nodes[i]
            line = f"  {node.key.ljust(width)}  {sym} {describe_value(self._fill(node), digits)}"
            terms = self.contributions(node)
            if len(terms) > 1:
                line += "  = " + " + ".join(describe_value(v, digits) for _, v in terms)
            lines.append(line)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Pass({self.mode}, {self.graph.name})"


