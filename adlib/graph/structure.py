"""The :class:`Graph` of one call: its nodes and edges, and what reverse mode stores."""
from __future__ import annotations

from typing import Any

import numpy as np

from adlib import tree
from adlib.graph import rules
from adlib.graph.nodes import (Edge, GraphNode, StoredValue, UnknownNodeError,
                               describe_value, is_numeric)

__all__ = ["Graph"]


class Graph:
    """The computational graph of one call, as recorded by :func:`trace`.

    Attributes
    ----------
    nodes
        All nodes in topological order (inputs, operations, outputs).
    edges
        All edges ``parent -> child``, ordered by child, then by slot.
    """

    def __init__(self, nodes: list[GraphNode], arg_defs: list, out_td: tree.TreeDef, name: str):
        self.nodes = nodes
        self.name = name
        self._arg_defs = arg_defs
        self._out_td = out_td
        self.edges: list[Edge] = []
        self._incoming: list[list[Edge]] = []
        for node in nodes:
            self._incoming.append([])
            for slot, p in enumerate(node.parents):
                e = Edge(len(self.edges), p, node, slot)
                self.edges.append(e)
                p.children.append(e)
                self._incoming[-1].append(e)
        self._by_key = {n.key: n for n in nodes}

    # -- access --------------------------------------------------------------
    @property
    def inputs(self) -> list[GraphNode]:
        """The input nodes, in argument order."""
        return [n for n in self.nodes if n.kind == "input"]

    @property
    def ops(self) -> list[GraphNode]:
        """The operation nodes, in topological order."""
        return [n for n in self.nodes if n.kind == "op"]

    @property
    def outputs(self) -> list[GraphNode]:
        """The output nodes, in output order."""
        return [n for n in self.nodes if n.kind == "output"]

    def node(self, key: str | int | GraphNode) -> GraphNode:
        """Look a node up by key (``'sin'``, ``'sin_2'``), index or node."""
        if isinstance(key, GraphNode):
            return key
        if isinstance(key, (int, np.integer)):
            return self.nodes[key]
        if key not in self._by_key:
            raise UnknownNodeError(f"the graph of '{self.name}' has no node {key!r}; its nodes are "
                           f"{', '.join(repr(k) for k in self._by_key)}")
        return self._by_key[key]

    def __getitem__(self, key: str | int) -> GraphNode:
        return self.node(key)

    def incoming(self, key: str | int | GraphNode) -> list[Edge]:
        """The edges into a node, one per parent, in slot order."""
        return list(self._incoming[self.node(key).index])

    def topological_order(self) -> list[GraphNode]:
        """Nodes so that every node comes after its parents (same as :attr:`nodes`)."""
        return list(self.nodes)

    def __repr__(self) -> str:
        return (f"Graph({self.name}: {len(self.inputs)} inputs, {len(self.ops)} operations, "
                f"{len(self.outputs)} outputs, {len(self.edges)} edges)")

    def summary(self) -> str:
        """A table of the nodes: kind, shape (or value) and parents."""
        rows = [("node", "kind", "value / shape", "parents")]
        for n in self.nodes:
            rows.append((n.key, n.kind, describe_value(n.value),
                         ", ".join(p.key for p in n.parents)))
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        return "\n".join("  ".join(s.ljust(w) for s, w in zip(r, widths)).rstrip()
                         for r in rows)

    # -- what reverse mode stores -------------------------------------------
    def stored_values(self) -> list[StoredValue]:
        """What reverse mode keeps from the forward sweep for the backward sweep.

        For each op node, the values its VJP rules *need*, as each rule
        declares with ``defvjp(..., reads=...)``: e.g. ``sin`` keeps its
        argument, ``exp`` and ``tanh`` their answer, ``multiply`` and ``matmul`` both operands (only
        the other operand when just one is traced), ``add`` nothing.  A
        ``custom_vjp`` node keeps its residuals, a ``custom_jvp`` node its
        primal inputs (its pushforward is transposed at that point).

        Returns
        -------
        list of StoredValue
            One entry per distinct value, values of graph nodes first in
            topological order, then constants and residuals.
        """
        of_nodes: dict[int, StoredValue] = {}
        others: list[StoredValue] = []
        for user in self.ops:
            for label, value, source in self._node_reads(user):
                if source is not None:
                    sv = of_nodes.get(source.index)
                    if sv is None:
                        sv = of_nodes[source.index] = StoredValue(source.key, source.value,
                                                                  source, [])
                else:
                    sv = next((o for o in others if o.value is value), None)
                    if sv is None:
                        sv = StoredValue(label, value, None, [])
                        others.append(sv)
                if user not in sv.needed_by:
                    sv.needed_by.append(user)
        return [of_nodes[i] for i in sorted(of_nodes)] + others

    def _node_reads(self, node: GraphNode) -> list[tuple]:
        """``(label, value, source)`` for each value the VJP rule of ``node`` reads.

        ``source`` is the graph node holding the value (then label and value
        are ``None``), or ``None`` for a constant or a residual.
        """
        en = node.node
        if node.selector is not None:
            return []
        if en.prim is not None:
            res = []
            for it in rules.reads(node):
                if it == rules.ANS:
                    res.append((node.key, en.ans, node))
                elif it in en.argnums:
                    res.append((None, None, node.parents[en.argnums.index(it)]))
                else:
                    res.append((self._const_label(node, it), en.args[it], None))
            return res
        info = rules.custom_record(en)
        kind = None if info is None else info.kind
        if kind == "custom_vjp":
            leaves = tree.flatten(info.residuals)[0]
            return [self._match(node, leaf, f"{node.name} residual {k}")
                    for k, leaf in enumerate(leaves)]
        if kind == "custom_jvp":
            return [self._match(node, leaf, f"{node.name} input {k}")
                    for k, leaf in enumerate(info.primal_leaves)]
        return [(None, None, p) for p in node.parents]

    def _match(self, node, leaf, label):
        """A residual that *is* the value of a node upstream is that node."""
        for gn in self.nodes[:node.index]:
            if gn.value is leaf and gn.kind != "output":
                return (None, None, gn)
        return (label, leaf, None)

    def _const_label(self, node: GraphNode, pos: int) -> str:
        name = node.const_names.get(pos)
        if name:
            return name
        a = node.node.args[pos]
        if is_numeric(a):
            return describe_value(a)
        return type(a).__name__

    # -- the two passes ------------------------------------------------------
    def forward_pass(self, tangents: Any):
        """Push tangents forward node by node with each primitive's JVP rules.

        Parameters
        ----------
        tangents
            One tangent per traced argument, as for :func:`adlib.jvp` (a tuple
            or list; a single array if there is one argument), or a dict
            ``{input key: tangent}`` (missing inputs get zero).

        Returns
        -------
        Pass
            The tangent of every node; each edge carries the term
            ``(JVP rule of the child for that argument)(parent's tangent)``,
            and a node's tangent is the sum of its incoming terms.  A custom
            JVP node applies its custom pushforward; a ``custom_vjp`` node has
            no pushforward, so the pass raises ``adlib.TracingError``
            there, as :func:`adlib.jvp` does.
        """
        from adlib.graph.passes import forward_pass
        return forward_pass(self, tangents)

    def reverse_pass(self, cotangent: Any = None):
        """Pull a cotangent back node by node with the VJP rules.

        Parameters
        ----------
        cotangent
            The seed :math:`\\bar y`, with the structure of ``f``'s output (as
            for the function :func:`adlib.vjp` returns).  Default: 1 for a
            scalar output.

        Returns
        -------
        Pass
            The adjoint of every node; each edge carries the contribution the
            child sends back to the parent, and a node's adjoint is the sum of
            the contributions on its outgoing edges (accumulation where a value
            fans out).  Nodes are processed in reverse topological order.
        """
        from adlib.graph.passes import reverse_pass
        return reverse_pass(self, cotangent)
