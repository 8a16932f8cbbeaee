"""Computational graphs of real traces, and pictures of forward and reverse mode.

:func:`trace` runs a function once on reverse-mode boxes and returns the
:class:`Graph` that adlib recorded: one node per input, one per primitive call
(or per custom rule), one per output, with the primal values and shapes.  On
that graph you can replay both modes node by node, with the library's own
rules:

* :meth:`Graph.forward_pass` pushes tangents forward (the JVP rules of each
  primitive), so every node gets its tangent and every edge the term it
  contributes;
* :meth:`Graph.reverse_pass` pulls a cotangent back (``node.cotangents``, the
  VJP rules), so every node gets its adjoint and every edge the contribution it
  carries; a value used several times receives the sum of its contributions;
* :meth:`Graph.stored_values` lists what reverse mode has to keep from the
  forward sweep for those VJP rules (see :data:`VJP_READS`).

:func:`draw` and :func:`animate` turn a graph into matplotlib pictures with a
deterministic left-to-right layout::

    import adlib.numpy as anp
    from adlib import graph

    def f(x, y):
        return y * anp.sin(x)

    g = graph.trace(f, 0.5, 2.0)
    fig = graph.draw(g, mode="reverse")              # stored values and adjoints
    graph.animation_html(g, mode="forward")          # step-by-step, for a notebook

matplotlib is imported only by the drawing functions.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from adlib import tree
from adlib.engine import Node, VJPBox, _dense, _primal, leaf_node, new_level, shape_of

__all__ = ["trace", "Graph", "GraphNode", "Edge", "StoredValue", "Pass", "VJP_READS", "ANS",
           "draw", "animate", "animation_html"]


# ====================================================================== data ====
@dataclass(eq=False)
class GraphNode:
    """One node of a :class:`Graph`: an input, an operation or an output."""

    #: Position in :attr:`Graph.nodes` (a topological order).
    index: int
    #: Unique name in the graph: the name, with ``_2``, ``_3``, ... appended to
    #: repeated operation names (``'sin'``, ``'sin_2'``).
    key: str
    #: Input name (parameter name), primitive name (``'sin'``, ``'multiply'``,
    #: ``'matmul'``), custom function name, or output name.  A custom call with
    #: several outputs gets one node named after the function plus one selector
    #: node per output used, named ``'name[k]'``.
    name: str
    #: ``'input'``, ``'op'`` or ``'output'``.
    kind: str
    #: The primal value (a tuple of values for a multi-output custom call).
    value: Any
    #: The nodes whose values this node reads, one per traced argument, in
    #: argument order (a value passed twice appears twice).
    parents: list = field(default_factory=list)
    #: For op nodes: which argument of the primitive each parent is.
    argnums: tuple = ()
    #: For op nodes: the numeric arguments that are not traced (data,
    #: constants), keyed by argument position.
    constants: dict = field(default_factory=dict)
    #: Names found for those constants: the parameter name of an argument left
    #: out of ``argnums``, or the variable of ``f``'s closure or module that
    #: holds the array; ``None`` when there is none.
    const_names: dict = field(default_factory=dict, repr=False)
    #: The edges leaving this node, in the order of :attr:`Graph.edges`.
    children: list = field(default_factory=list, repr=False)
    #: The ``Node`` that adlib's engine recorded (``None`` for outputs).
    node: Any = field(default=None, repr=False)
    #: For the selector node of output ``k`` of a multi-output custom call: ``k``.
    selector: int | None = None

    @property
    def shape(self) -> tuple:
        """Shape of the value (a tuple of shapes for a multi-output custom call)."""
        if isinstance(self.value, tuple):
            return tuple(shape_of(v) for v in self.value)
        return shape_of(self.value)

    @property
    def prim(self):
        """The :class:`~adlib.Primitive` of an op node (``None`` for custom rules)."""
        return None if self.node is None else self.node.prim

    @property
    def is_custom(self) -> bool:
        """Whether this node is a call of a ``custom_jvp``/``custom_vjp`` function."""
        return self.kind == "op" and self.prim is None and self.selector is None

    def __repr__(self) -> str:
        return f"GraphNode({self.key!r}, kind={self.kind!r}, shape={self.shape})"


@dataclass(frozen=True, eq=False)
class Edge:
    """A data dependency ``parent -> child``.

    ``slot`` is the position of ``parent`` in ``child.parents``: ``x * x``
    gives two edges from ``x`` to ``multiply``, with slots 0 and 1.
    """

    index: int
    parent: GraphNode
    child: GraphNode
    slot: int

    def __repr__(self) -> str:
        return f"Edge({self.parent.key} -> {self.child.key}, slot={self.slot})"


@dataclass(eq=False)
class StoredValue:
    """A value that reverse mode keeps from the forward sweep."""

    #: Short description: the node key, a constant's name or value, or
    #: ``'<function> residual k'`` for a residual of a custom rule.
    label: str
    #: The stored value.
    value: Any
    #: The graph node whose value is stored, or ``None`` for a constant or a
    #: residual computed inside a custom rule.
    source: GraphNode | None
    #: The op nodes whose VJP rules read it.
    needed_by: list

    def __repr__(self) -> str:
        users = ", ".join(n.key for n in self.needed_by)
        return f"StoredValue({self.label!r}, for {users})"


# =========================================================== which rules read what ====
ANS = "ans"
"""Marker for "the rule reads the primitive's answer" in :data:`VJP_READS`."""

VJP_READS: dict[str, tuple] = {
    # name: (what the VJP rule for argument 0 reads, for argument 1, ...).
    # Integers are argument positions, ANS the answer.  Shapes, axes and
    # indices are metadata, always available, not counted as stored values.
    # -- elementwise, binary
    "add": ((), ()),
    "subtract": ((), ()),
    "multiply": ((1,), (0,)),                 # xbar = g*y, ybar = x*g
    "divide": ((1,), (1, ANS)),               # xbar = g/y, ybar = -g*ans/y
    "power": ((0, 1), (0, ANS)),              # g*y*x**(y-1), g*ans*log(x)
    "maximum": ((0, 1, ANS), (0, 1, ANS)),    # where x (or y) won
    "minimum": ((0, 1, ANS), (0, 1, ANS)),
    "where": (None, (0,), (0,)),              # the condition decides
    # -- elementwise, unary
    "negative": ((),),
    "exp": ((ANS,),), "expm1": ((ANS,),), "sqrt": ((ANS,),), "reciprocal": ((ANS,),),
    "tan": ((ANS,),), "tanh": ((ANS,),),
    "log": ((0,),), "log1p": ((0,),), "square": ((0,),), "sin": ((0,),), "cos": ((0,),),
    "arcsin": ((0,),), "arccos": ((0,),), "arctan": ((0,),), "sinh": ((0,),),
    "cosh": ((0,),), "abs": ((0,),), "clip": ((0, 1, 2),),
    # -- reductions
    "sum": ((),), "prod": ((0, ANS),), "max": ((0, ANS),), "min": ((0, ANS),),
    # -- shape and indexing: linear maps, their adjoints need no values
    "reshape": ((),), "transpose": ((),), "swapaxes": ((),), "expand_dims": ((),),
    "squeeze": ((),), "broadcast_to": ((),), "getitem": ((),), "untake": ((),),
    "triu": ((),), "tril": ((),), "flip": ((),), "diag": ((),), "trace": ((),),
    "concatenate": "none", "stack": "none",
    # -- products
    "matmul": ((1,), (0,)),                   # Abar = g B^T, Bbar = A^T g
    "einsum": "others",                       # each operand's rule reads the others
    # -- linear algebra
    "inv": ((ANS,),),                         # Abar = -Y^T g Y^T
    "solve": ((1, ANS), None, (1,)),          # reuses the LU factors (argument 1)
    "solve_T": ((1, ANS), None, (1,)),
    "det": ((0, ANS),), "logabsdet": ((0,),),
    "cholesky": ((ANS,),),
    "norm": ((0, ANS),), "spectral_norm": ((0,),),
}
"""What each primitive's VJP rule reads, argument by argument.

Keys are the names of the primitives of :mod:`adlib.numpy`; each value has
one entry per argument: the argument positions and/or :data:`ANS` that the
VJP rule for that argument reads (``None``: not differentiable).  For
example ``"multiply": ((1,), (0,))`` says that the rule for ``x`` in
``x * y`` reads ``y`` and the rule for ``y`` reads ``x``, and
``"exp": ((ANS,),)`` that the rule of ``exp`` reads its answer.  ``"none"``
(reads nothing) and ``"others"`` (each argument's rule reads all the other
arguments) describe the primitives that take any number of arrays.  Shapes,
axes and indices are metadata, not stored values.

A primitive not listed here is assumed to read all its arguments and its
answer, which is what the engine's ``Node`` keeps anyway.  The test suite
checks the table against the rules themselves: replacing a value a rule does
not read by NaN leaves its result unchanged, and changing a value it does read
changes the result.

:meta hide-value:
"""


def _numpy_primitives() -> list:
    """The differentiable primitives defined in the modules of :mod:`adlib.numpy`."""
    import importlib
    import pkgutil

    import adlib.numpy
    from adlib.engine import Primitive
    mods = [adlib.numpy] + [importlib.import_module(f"adlib.numpy.{m.name}")
                            for m in sorted(pkgutil.iter_modules(adlib.numpy.__path__),
                                            key=lambda m: m.name)]
    found: dict[int, Primitive] = {}
    for mod in mods:
        for obj in vars(mod).values():
            if isinstance(obj, Primitive) and obj.differentiable:
                found.setdefault(id(obj), obj)
    return list(found.values())


def _known_primitives() -> dict:
    """Map adlib.numpy's Primitive objects (not just names) to their table entries."""
    return {id(p): VJP_READS[p.name] for p in _numpy_primitives() if p.name in VJP_READS}


_KNOWN: dict | None = None


def _reads(node: GraphNode) -> list:
    """What the VJP rules of an op node read, for its traced arguments.

    Argument positions and/or :data:`ANS`; for a primitive missing from
    :data:`VJP_READS`, all arguments and the answer.
    """
    global _KNOWN
    if _KNOWN is None:
        _KNOWN = _known_primitives()
    prim = node.prim
    entry = _KNOWN.get(id(prim))
    n_args = len(node.node.args)
    if entry is None:
        return list(range(n_args)) + [ANS]
    items: list = []
    for i in node.argnums:
        if entry == "none":
            per_arg: Iterable = ()
        elif entry == "others":
            per_arg = [j for j in range(1, n_args) if j != i]   # argument 0: subscripts
        else:
            per_arg = entry[i] if i < len(entry) and entry[i] is not None else ()
        for item in per_arg:
            if item not in items:
                items.append(item)
    items.sort(key=lambda it: (it == ANS, it if it != ANS else 0))
    return items


# ================================================================ custom rules ====
def _closure(fn: Callable) -> dict:
    code = getattr(fn, "__code__", None)
    if code is None or not fn.__closure__:
        return {}
    return {name: cell.cell_contents for name, cell in zip(code.co_freevars, fn.__closure__)}


def _custom_info(node: Node) -> dict:
    """What a custom-rule node remembers (``Node.custom``, set by adlib.custom).

    A dict with ``kind`` (``'custom_jvp'``, ``'custom_vjp'`` or ``'unknown'``)
    and, for custom_jvp, ``rule``, ``nondiff``, ``primals``, ``primal_leaves``,
    ``td``, ``boxed_idx``; for custom_vjp, ``residuals``.
    """
    return node.custom or dict(kind="unknown")


# ===================================================================== trace ====
def _argument_names(f: Callable, n: int, names: Sequence[str] | None) -> list[str]:
    if names is not None:
        names = list(names)
        if len(names) != n:
            raise ValueError(f"adlib.graph.trace: names has {len(names)} entries but f was "
                             f"called with {n} arguments; give one name per argument")
        return [str(s) for s in names]
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        params = []
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    star = [p for p in params if p.kind == p.VAR_POSITIONAL]
    out = []
    for i in range(n):
        if i < len(positional):
            out.append(positional[i].name)
        elif star:                                   # def f(*xs): xs[0], xs[1], ...
            out.append(f"{star[0].name}[{i - len(positional)}]")
        else:
            out.append(f"x{i}")
    return out


def _leaf_paths(x: Any, prefix: str) -> list[str]:
    """Names of the leaves of a pytree, in ``tree.flatten`` order."""
    t = type(x)
    if t is tuple or t is list:
        return [p for i, v in enumerate(x) for p in _leaf_paths(v, f"{prefix}[{i}]")]
    if t is dict:
        return [p for k in sorted(x) for p in _leaf_paths(x[k], f"{prefix}[{k!r}]")]
    if x is None:
        return []
    return [prefix]


def _function_name(f: Callable) -> str:
    name = getattr(f, "__name__", "")
    return name if name.isidentifier() else "out"


def trace(f: Callable, *args: Any, names: Sequence[str] | None = None,
          argnums: int | Sequence[int] | None = None,
          output_names: Sequence[str] | None = None) -> "Graph":
    """Record the computational graph of ``f`` at ``args``.

    ``f`` runs once on reverse-mode boxes at a fresh trace level; every
    primitive call (and every call of a custom rule) becomes an op node.

    Parameters
    ----------
    f
        Function of positional arguments built from :mod:`adlib.numpy`.
    *args
        The point: floats, arrays or pytrees of them.
    names
        One name per argument; by default the parameter names of ``f``.
        Leaves of a pytree argument are named like ``params[0]`` or
        ``params['W']``.
    argnums
        Which arguments are traced (all by default).  The others are passed
        unchanged: they are data, shown as constants, not input nodes.
    output_names
        One name per output leaf; by default the function's name (``f``,
        ``loss``; ``out`` for a lambda), with ``[k]`` for several outputs.

    Returns
    -------
    Graph
        Nodes in topological order: the inputs in argument order, then the
        operations in the order they ran, then the outputs.  Operations whose
        results do not reach an output are left out.

    Examples
    --------
    >>> import adlib.numpy as anp
    >>> from adlib.graph import trace
    >>> def f(x, y):
    ...     return y * anp.sin(x)
    >>> g = trace(f, 0.5, 2.0)
    >>> [n.name for n in g.nodes]
    ['x', 'y', 'sin', 'multiply', 'f']
    """
    n = len(args)
    if argnums is None:
        nums = tuple(range(n))
    else:
        nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
        for a in nums:
            if not -n <= a < n:
                raise ValueError(f"adlib.graph.trace: argnums={argnums} but f was called "
                                 f"with {n} arguments")
        nums = tuple(sorted({a % n for a in nums}))
    arg_names = _argument_names(f, n, names)

    level = new_level()
    call_args = list(args)
    inputs: list[GraphNode] = []
    by_engine_node: dict[int, GraphNode] = {}
    arg_defs = []
    for i in nums:
        leaves, td = tree.flatten(args[i])
        paths = _leaf_paths(args[i], arg_names[i])
        boxes = []
        for leaf, path in zip(leaves, paths):
            dt = np.result_type(_primal(leaf))
            if not np.issubdtype(dt, np.inexact):
                raise TypeError(
                    f"adlib.graph.trace: input '{path}' has dtype {dt}; only floating-point "
                    f"inputs can be traced. Pass floats (e.g. 1.0 instead of 1), or leave "
                    f"this argument out of argnums so that it is treated as data.")
            en = leaf_node(path)
            gn = GraphNode(len(inputs), path, path, "input", leaf, node=en)
            inputs.append(gn)
            by_engine_node[id(en)] = gn
            boxes.append(VJPBox(leaf, level, en))
        arg_defs.append((i, td, inputs[len(inputs) - len(boxes):]))
        call_args[i] = tree.unflatten(td, boxes)

    out = f(*call_args)

    out_leaves, out_td = tree.flatten(out)
    out_nodes = [y.node if type(y) is VJPBox and y.level == level else None for y in out_leaves]
    out_values = [y.value if type(y) is VJPBox and y.level == level else y for y in out_leaves]

    # the operations the outputs depend on, in the order they ran (adlib numbers
    # its nodes as it creates them)
    reached: dict[int, Node] = {}
    stack = [en for en in out_nodes if en is not None]
    while stack:
        en = stack.pop()
        if id(en) not in reached and id(en) not in by_engine_node:
            reached[id(en)] = en
            stack.extend(en.parents)
    ops_engine = sorted(reached.values(), key=lambda en: en.seq)

    known_names = _constant_names(f, args, arg_names, nums)
    nodes = list(inputs)
    counts: dict[str, int] = {}
    for gn in inputs:
        counts[gn.name] = 1
    for en in ops_engine:
        name = en.name
        counts[name] = counts.get(name, 0) + 1
        key = name if counts[name] == 1 else f"{name}_{counts[name]}"
        parents = [by_engine_node[id(p)] for p in en.parents]
        value = en.ans
        constants = {}
        if en.prim is not None:
            constants = {j: a for j, a in enumerate(en.args)
                         if j not in en.argnums and _is_numeric(a)}
        selector = None
        m = re.fullmatch(r".*\[(\d+)\]", name)
        if en.prim is None and m and len(parents) == 1 and parents[0].node.n_out > 1:
            selector = int(m.group(1))
        gn = GraphNode(len(nodes), key, name, "op", value, parents, tuple(en.argnums),
                       constants, {j: known_names.get(id(a)) for j, a in constants.items()},
                       node=en, selector=selector)
        nodes.append(gn)
        by_engine_node[id(en)] = gn

    fname = _function_name(f)
    if output_names is None:
        output_names = ([fname] if len(out_leaves) == 1 and out_td.kind == "leaf"
                        else _leaf_paths(out, fname))
    output_names = list(output_names)
    if len(output_names) != len(out_leaves):
        raise ValueError(f"adlib.graph.trace: output_names has {len(output_names)} entries "
                         f"but f returned {len(out_leaves)} output leaves")
    outputs = []
    for name, en, value in zip(output_names, out_nodes, out_values):
        parents = [] if en is None else [by_engine_node[id(en)]]
        key = name if name not in counts else f"{name}_out"
        counts[key] = 1
        gn = GraphNode(len(nodes), key, name, "output", value, parents)
        nodes.append(gn)
        outputs.append(gn)

    return Graph(nodes, arg_defs, out_td, fname)


def _constant_names(f: Callable, args: tuple, arg_names: list, nums: tuple) -> dict:
    """id of a value -> a name for it: untraced arguments, then f's closure and globals.

    Only arrays are looked up in the closure and the globals (a number could
    coincide with an unrelated variable); names starting with ``_`` are skipped.
    """
    found = {id(args[i]): arg_names[i] for i in range(len(args)) if i not in nums}
    places = []
    fns, seen = [f], set()
    while fns and len(seen) < 20:       # f's closure, the closures of functions in it, ...
        fn = fns.pop(0)
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        env = sorted(_closure(fn).items())
        places.append(env)
        fns += [v for _, v in env if callable(v)]
    glb = getattr(f, "__globals__", None)
    if isinstance(glb, dict):
        places.append(sorted(glb.items()))
    for items in places:
        for name, value in items:
            if type(value) is np.ndarray and not name.startswith("_") \
                    and id(value) not in found:
                found[id(value)] = name
    return found


def _is_numeric(a: Any) -> bool:
    return isinstance(a, (int, float, complex, np.ndarray, np.number)) and not isinstance(a, bool)


# ===================================================================== graph ====
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
            raise KeyError(f"the graph of '{self.name}' has no node {key!r}; its nodes are "
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
            rows.append((n.key, n.kind, _describe_value(n.value),
                         ", ".join(p.key for p in n.parents)))
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        return "\n".join("  ".join(s.ljust(w) for s, w in zip(r, widths)).rstrip()
                         for r in rows)

    # -- what reverse mode stores -------------------------------------------
    def stored_values(self) -> list[StoredValue]:
        """What reverse mode keeps from the forward sweep for the backward sweep.

        For each op node, the values its VJP rule actually reads (table
        :data:`VJP_READS`): e.g. ``sin`` keeps its argument, ``exp`` and
        ``tanh`` their answer, ``multiply`` and ``matmul`` both operands (only
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
            for it in _reads(node):
                if it == ANS:
                    res.append((node.key, en.ans, node))
                elif it in en.argnums:
                    res.append((None, None, node.parents[en.argnums.index(it)]))
                else:
                    res.append((self._const_label(node, it), en.args[it], None))
            return res
        info = _custom_info(en)
        if info["kind"] == "custom_vjp":
            leaves = tree.flatten(info["residuals"])[0]
            return [self._match(node, leaf, f"{node.name} residual {k}")
                    for k, leaf in enumerate(leaves)]
        if info["kind"] == "custom_jvp":
            return [self._match(node, leaf, f"{node.name} input {k}")
                    for k, leaf in enumerate(info["primal_leaves"])]
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
        if _is_numeric(a):
            return _describe_value(a)
        return type(a).__name__

    # -- the two passes ------------------------------------------------------
    def forward_pass(self, tangents: Any) -> "Pass":
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
            no pushforward, so the pass raises ``TypeError`` there, as
            :func:`adlib.jvp` does.
        """
        seeds = self._input_seeds(tangents)
        node_vals: list = [None] * len(self.nodes)
        edge_vals: list = [None] * len(self.edges)
        for n in self.inputs:
            node_vals[n.index] = seeds[n.index]
        for node in self.nodes:
            if node.kind == "input":
                continue
            in_edges = self._incoming[node.index]
            ts = [node_vals[e.parent.index] for e in in_edges]
            if node.kind == "output":
                terms = ts
                total = ts[0] if ts else _zeros_like(node.value)
            elif node.selector is not None:
                terms = [ts[0][node.selector]]
                total = terms[0]
            elif node.prim is not None:
                terms = [_jvp_term(node, slot, t) for slot, t in enumerate(ts)]
                total = _broadcast(_sum(terms), shape_of(node.value))
            else:
                terms, total = _custom_jvp_terms(node, ts)
            for e, t in zip(in_edges, terms):
                edge_vals[e.index] = t
            node_vals[node.index] = total
        steps = [n.index for n in self.nodes]
        return Pass(self, "forward", node_vals, edge_vals, steps)

    def reverse_pass(self, cotangent: Any = None) -> "Pass":
        """Pull a cotangent back node by node with ``node.cotangents`` (the VJP rules).

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
        seeds = self._output_seeds(cotangent)
        node_vals: list = [None] * len(self.nodes)
        edge_vals: list = [None] * len(self.edges)
        arrived: list[list] = [[] for _ in self.nodes]
        steps = []
        for node in reversed(self.nodes):
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
            in_edges = self._incoming[node.index]
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
        return Pass(self, "reverse", node_vals, edge_vals, steps)

    def _input_seeds(self, tangents) -> dict:
        inputs = self.inputs
        seeds: dict = {}
        if isinstance(tangents, dict) and all(isinstance(k, str) for k in tangents):
            unknown = [k for k in tangents if k not in self._by_key
                       or self._by_key[k].kind != "input"]
            if unknown:
                raise KeyError(f"forward_pass: {unknown} are not inputs of '{self.name}'; "
                               f"its inputs are {[n.key for n in inputs]}")
            for n in inputs:
                t = tangents.get(n.key)
                seeds[n.index] = _zeros_like(n.value) if t is None else t
        else:
            if not isinstance(tangents, (tuple, list)):
                tangents = (tangents,)
            if len(tangents) != len(self._arg_defs):
                raise ValueError(f"forward_pass: got {len(tangents)} tangents but '{self.name}' "
                                 f"has {len(self._arg_defs)} traced arguments; give one "
                                 f"tangent per traced argument, as for adlib.jvp")
            for (i, td, nodes), t in zip(self._arg_defs, tangents):
                leaves, ttd = tree.flatten(t)
                if ttd != td:
                    raise ValueError(f"forward_pass: the tangent for argument {i} has "
                                     f"structure {ttd!r}, the argument has {td!r}")
                for n, leaf in zip(nodes, leaves):
                    seeds[n.index] = leaf
        for n in inputs:
            t = seeds[n.index]
            if shape_of(t) != shape_of(n.value):
                raise ValueError(f"forward_pass: the tangent for input '{n.key}' has shape "
                                 f"{shape_of(t)} but the input has shape {shape_of(n.value)}")
        return seeds

    def _output_seeds(self, cotangent) -> dict:
        outs = self.outputs
        if cotangent is None:
            if len(outs) != 1 or shape_of(outs[0].value) != ():
                raise ValueError(f"reverse_pass: '{self.name}' does not return a single "
                                 f"scalar, so give a cotangent with the structure and shapes "
                                 f"of its output")
            cotangent = np.ones((), dtype=np.result_type(outs[0].value, np.float64))[()]
        leaves, td = tree.flatten(cotangent)
        if td != self._out_td:
            raise ValueError(f"reverse_pass: the cotangent has structure {td!r} but the "
                             f"output of '{self.name}' has structure {self._out_td!r}")
        seeds = {}
        for n, c in zip(outs, leaves):
            if shape_of(c) != shape_of(n.value):
                raise ValueError(f"reverse_pass: the cotangent for output '{n.key}' has shape "
                                 f"{shape_of(c)} but the output has shape {shape_of(n.value)}")
            seeds[n.index] = c
        return seeds


def _jvp_term(node: GraphNode, slot: int, t: Any) -> Any:
    en = node.node
    prim, i = en.prim, en.argnums[slot]
    if prim.varargs:
        return prim.jvps[0](i, t, en.ans, *en.args, **en.kwargs)
    rule = prim.jvps[i] if i < len(prim.jvps) else None
    if rule is None:
        raise NotImplementedError(f"adlib has no JVP rule for argument {i} of '{prim.name}', "
                                  f"so the forward pass stops at node '{node.key}'")
    return rule(t, en.ans, *en.args, **en.kwargs)


def _custom_jvp_terms(node: GraphNode, ts: list) -> tuple[list, Any]:
    info = _custom_info(node.node)
    if info["kind"] != "custom_jvp":
        raise TypeError(
            f"cannot push a tangent forward through '{node.name}': it is a custom_vjp "
            f"function, which has a reverse-mode rule only (adlib.jvp refuses it too). "
            f"Use reverse_pass, or define '{node.name}' with ad.custom_jvp.")
    rule, nondiff, primals = info["rule"], info["nondiff"], info["primals"]
    leaves, td, boxed = info["primal_leaves"], info["td"], info["boxed_idx"]

    def push(tans_by_slot):
        tl = [_zeros_like(x) for x in leaves]
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


def _zeros_like(x):
    if isinstance(x, tuple):
        return tuple(_zeros_like(v) for v in x)
    return np.zeros(shape_of(x), dtype=np.result_type(_primal(x), np.float64))[()]


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


# ====================================================================== pass ====
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
        return _zeros_like(node.value) if v is None else v

    def summary(self, digits: int = 3) -> str:
        """One line per node, in the order processed: value and, where several, the terms."""
        sym = "tangent" if self.mode == "forward" else "adjoint"
        lines = [f"{self.mode} pass over '{self.graph.name}'"]
        width = max(len(n.key) for n in self.graph.nodes)
        for i in self.steps:
            node = self.graph.nodes[i]
            line = f"  {node.key.ljust(width)}  {sym} {_describe_value(self._fill(node), digits)}"
            terms = self.contributions(node)
            if len(terms) > 1:
                line += "  = " + " + ".join(_describe_value(v, digits) for _, v in terms)
            lines.append(line)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Pass({self.mode}, {self.graph.name})"


def _describe_value(v: Any, digits: int = 3) -> str:
    """Scalars with ``digits`` significant digits; arrays by shape (tiny ones in full)."""
    if isinstance(v, (tuple, list)):
        return "(" + ", ".join(_describe_value(x, digits) for x in v) + ")"
    v = _primal(v)
    if not _is_numeric(v):
        return type(v).__name__
    a = np.asarray(v)
    if a.ndim == 0:
        return _num(a.item(), digits)
    return "array " + _shape_text(a.shape)


def _shape_text(shape: tuple) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _num(x: float, digits: int = 3) -> str:
    s = f"{x:.{digits}g}"
    return "0" if s in ("-0", "-0.0") else s


# =================================================================== drawing ====
_STYLE = {
    "input": dict(face="#dcefd6", edge="#3f7f35"),
    "op": dict(face="#dfe8f6", edge="#3a64a8"),
    "custom": dict(face="#efe0f5", edge="#7e3fa0"),
    "output": dict(face="#fbe5cc", edge="#b86a1d"),
    "const": dict(face="#ffffff", edge="#9a9a9a"),
    "residual": dict(face="#ffffff", edge="#7e3fa0"),
}
_FORWARD = "#1f5fbf"      # tangents
_REVERSE = "#c0392b"      # adjoints
_STORED = "#f2b600"       # stored values
_FADED = 0.22
_FS_TITLE, _FS_SUB, _FS_LABEL, _FS_CONST = 10.0, 8.5, 8.5, 8.5   # font sizes, points
_SMALL = ("const", "residual")      # items that are not graph nodes
_WIDTHS: dict = {}


def _text_width(text: str, size: float, bold: bool) -> float:
    """Width of a one-line text in points (cached: layouts measure the same labels)."""
    key = (text, size, bold)
    if key not in _WIDTHS:
        from matplotlib.font_manager import FontProperties
        from matplotlib.textpath import TextPath
        prop = FontProperties(weight="bold" if bold else "normal")
        _WIDTHS[key] = TextPath((0, 0), text, size=size, prop=prop).get_extents().width
    return _WIDTHS[key]


@dataclass
class _Item:
    """Something placed by the layout: a graph node or a constant feeding one."""
    key: str
    kind: str
    title: str
    sub: str
    node: GraphNode | None = None
    value: Any = None                              # constants: the value
    targets: list = field(default_factory=list)   # constants: op nodes they feed
    col: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0


def _layout(graph: Graph, inputs_left: bool | None) -> tuple[list[_Item], dict]:
    """Deterministic layered layout, left to right.

    Columns: an operation sits one column right of its deepest parent, the
    outputs share the last column, inputs take column 0 or the column just
    before their first use (see :func:`draw`'s ``inputs_left``), constants
    sit half a column before the operation that reads them.  Rows: the
    critical path from the first output back to an input (the "spine") is a
    straight line on row 0; every other item is placed, breadth first from the
    spine, on the free row nearest to the neighbour that discovered it, never
    on top of another item or across a horizontal edge.
    """
    depth: dict[int, int] = {}
    for n in graph.nodes:
        if n.kind == "op":
            depth[n.index] = 1 + max((depth.get(p.index, 0) for p in n.parents), default=0)
        elif n.kind == "input":
            depth[n.index] = 0
    last = max(list(depth.values()) + [0]) + 1
    items: list[_Item] = []
    by_node: dict[int, _Item] = {}
    for n in graph.nodes:
        if n.kind == "output":
            col = last
        elif n.kind == "input" and inputs_left is not True and n.children:
            first = min(depth[e.child.index] if e.child.kind == "op" else last
                        for e in n.children)
            col = 0 if (inputs_left is None and first <= 2) else first - 1
        else:
            col = depth[n.index]
        it = _Item(n.key, "custom" if n.is_custom else n.kind, n.name, _sub(n.value),
                   node=n, col=float(col))
        items.append(it)
        by_node[n.index] = it
    consts: dict[int, _Item] = {}        # one item per distinct constant value
    small: list[_Item] = []              # constants and residuals
    for n in graph.ops:
        for j, a in n.constants.items():
            it = consts.get(id(a))
            if it is None:
                name = n.const_names.get(j)
                if name:
                    title, sub = name, _sub(a)
                elif np.ndim(a) == 0:
                    title, sub = _num(float(np.real(a))), ""
                else:
                    title, sub = "constant", _sub(a)
                it = consts[id(a)] = _Item(f"const{len(consts)}", "const", title, sub, value=a)
                small.append(it)
            if n not in it.targets:
                it.targets.append(n)
    for n in graph.ops:        # stored arguments that are not numbers (LU factors, ...)
        for label, value, source in graph._node_reads(n):
            if source is None and n.prim is not None and not _is_numeric(value):
                it = consts.get(id(value))
                if it is None:
                    it = consts[id(value)] = _Item(f"const{len(consts)}", "const", label, "",
                                                   value=value)
                    small.append(it)
                if n not in it.targets:
                    it.targets.append(n)
    for it in small:
        it.col = min(by_node[t.index].col for t in it.targets) - 0.5
    # residuals that a custom_vjp rule computed for itself, next to its node
    for n in graph.ops:
        if n.is_custom:
            extra = [value for _, value, source in graph._node_reads(n) if source is None]
            for k, value in enumerate(extra):
                small.append(_Item(f"res{n.index}_{k}", "residual", f"residual {k}",
                                   _sub(value), value=value, targets=[n],
                                   col=by_node[n.index].col))
    items += small

    # neighbours of each item, in a fixed order: consumers, then arguments
    nbrs: dict[int, list[_Item]] = {id(it): [] for it in items}
    for n in graph.nodes:
        here = by_node[n.index]
        nbrs[id(here)] += [by_node[e.child.index] for e in n.children]
        nbrs[id(here)] += [by_node[p.index] for p in n.parents]
    for it in small:
        for t in it.targets:
            nbrs[id(it)].append(by_node[t.index])
            nbrs[id(by_node[t.index])].append(it)

    rows: dict[int, int] = {}
    placed: list[_Item] = []

    def free(it, r):
        for o in placed:
            if rows[id(o)] == r and abs(o.col - it.col) < 0.9:
                return False
        for a in placed:                 # horizontal edges between placed items
            for b in nbrs[id(a)]:
                if id(b) in rows and rows[id(a)] == r == rows[id(b)] and \
                        min(a.col, b.col) < it.col < max(a.col, b.col):
                    return False
        return True

    def place(it, want):
        r = want + len(items) + 1           # a free row always exists that far away
        for k in range(len(items) + 1):
            tries = [r2 for r2 in ((want + k, want - k) if k else (want,)) if free(it, r2)]
            if tries:
                r = tries[0]
                break
        rows[id(it)] = r
        placed.append(it)

    spine = []
    roots = graph.outputs or graph.nodes[-1:]
    node = roots[0] if roots else None
    while node is not None:
        spine.append(by_node[node.index])
        node = max(node.parents, key=lambda p: (depth.get(p.index, 0), -node.parents.index(p)),
                   default=None)
    for it in spine:
        rows[id(it)] = 0
        placed.append(it)
    queue = list(spine)
    while len(placed) < len(items):
        while queue:
            it = queue.pop(0)
            for nb in nbrs[id(it)]:
                if id(nb) not in rows:
                    place(nb, rows[id(it)])
                    queue.append(nb)
        rest = [it for it in items if id(it) not in rows]   # not connected to the spine
        if rest:
            place(rest[0], 0)
            queue.append(rest[0])
    bottom = max(rows.values())
    for it in items:
        it.y = float(bottom - rows[id(it)])   # rows count downwards, y upwards
    return items, by_node


def _sub(value: Any) -> str:
    """The second line of a node: a scalar's value (3 significant digits) or a shape."""
    if isinstance(value, tuple):
        return ", ".join(_sub(v) for v in value)
    v = _primal(value)
    if not _is_numeric(v):
        return ""
    return _num(float(np.real(v))) if np.ndim(v) == 0 else _shape_text(np.shape(v))


_TEX_ESCAPE = {"_": r"\_", "$": r"\$", "%": r"\%", "#": r"\#", "&": r"\&",
               "{": r"\{", "}": r"\}", "'": "", '"': ""}


def _tex(text: str) -> str:
    return "".join(_TEX_ESCAPE.get(ch, ch) for ch in text)


def _sym(node: GraphNode, mode: str, symbols: dict, index: str = "") -> str:
    """The tangent or adjoint symbol of a node, as matplotlib mathtext (no dollars).

    ``symbols`` maps node keys to mathtext symbols (``{'sin': 's'}``).  By
    default a one-letter name (optionally with digits) gets its accent, ``ẋ`` or
    ``W̄₁``; any other node is written ``v`` with the node key as subscript.
    """
    acc = r"\dot" if mode == "forward" else r"\bar"
    sub = ""
    if node.key in symbols:
        base = symbols[node.key]
    else:
        m = re.fullmatch(r"([A-Za-z])(\d*)", node.key)
        if m:
            base, sub = m.group(1), m.group(2)
        elif node.kind == "op":
            base, sub = "v", r"\mathrm{" + _tex(node.key.lstrip("_")) + "}"
        else:
            acc = r"\dot" if mode == "forward" else r"\overline"
            base = r"\mathrm{" + _tex(node.key) + "}"
    subs = ",".join(x for x in (sub, index) if x)
    return f"{acc}{{{base}}}" + (f"_{{{subs}}}" if subs else "")


def _is_scalar(v: Any) -> bool:
    v = _primal(v)
    return _is_numeric(v) and np.ndim(v) == 0


def _space(value: Any) -> str:
    """``ℝ⁴ˣ³`` (text with mathtext exponent) for the space of an array value."""
    return "ℝ$^{" + r"\times ".join(str(n) for n in shape_of(value)) + "}$"


@dataclass
class _State:
    """What a picture (or one animation frame) shows."""
    mode: str | None = None
    done: set | None = None          # nodes with primal values shown (None: all)
    edges: set = field(default_factory=set)      # edges drawn in the mode's colour
    stored: set | None = None        # nodes shown as stored (None: all, in reverse mode)
    stored_consts: set | None = None  # ids of constants shown as stored (None: all)
    active: set = field(default_factory=set)     # nodes highlighted in this step
    labels: dict = field(default_factory=dict)   # edge index -> text
    notes: dict = field(default_factory=dict)    # node index -> text under the node
    caption: str = ""


class _Picture:
    """Layout plus drawing of one graph; reused for every animation frame."""

    def __init__(self, graph: Graph, inputs_left: bool | None = None, figsize=None,
                 dpi=None):
        self.graph = graph
        self.items, self.by_node = _layout(graph, inputs_left)
        self.xmin = min(it.col for it in self.items)
        self.xmax = max(it.col for it in self.items)
        self.ymax = max(it.y for it in self.items)
        if figsize is None:
            ncols, nrows = self.xmax - self.xmin + 1, self.ymax + 1
            figsize = (round(4 * min(max(1.0 * ncols + 1.5, 7.0), 9.5)) / 4,
                       round(4 * min(max(1.15 * nrows + 1.2, 2.75), 6.5)) / 4)
        self.figsize = figsize
        # at most 800 pixels wide (a book page), at most 100 dots per inch; a
        # multiple of 4 makes whole pixels of sizes in quarter inches
        self.dpi = dpi if dpi is not None else min(100, 4 * int(200 / figsize[0]))
        stored = graph.stored_values()
        self.stored_nodes = {sv.source.index for sv in stored if sv.source is not None}
        self.stored_consts = {id(sv.value) for sv in stored if sv.source is None}

    # -- geometry ------------------------------------------------------------
    def _setup(self, ax):
        fig = ax.figure
        x0, x1 = self.xmin - 0.6, self.xmax + 0.6
        y0, y1 = -1.0, self.ymax + 0.75
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_axis_off()
        box = ax.get_position()
        self.px = (x1 - x0) / (fig.get_figwidth() * box.width * 72)    # data units per point
        self.py = (y1 - y0) / (fig.get_figheight() * box.height * 72)
        for it in self.items:
            small = it.kind in _SMALL
            wt = _text_width(it.title, _FS_CONST if small else _FS_TITLE, not small)
            ws = _text_width(it.sub, _FS_SUB, False) if it.sub else 0.0
            it.w = (max(wt, ws) + 10) * self.px
            it.h = ((2 if it.sub else 1) * 11.5 + 6) * self.py

    # -- drawing -------------------------------------------------------------
    def render(self, ax, state: _State) -> None:
        ax.clear()
        self._setup(ax)
        shown = (lambda i: True) if state.done is None else (lambda i: i in state.done)
        if state.mode != "reverse":
            stored_nodes, stored_consts = set(), set()
        else:
            stored_nodes = self.stored_nodes if state.stored is None else state.stored
            stored_consts = self.stored_consts if state.stored_consts is None \
                else state.stored_consts
        for it in self.items:
            alive = shown(it.node.index) if it.node is not None else \
                any(shown(t.index) for t in it.targets)
            stored = (it.node is not None and it.node.index in stored_nodes) or \
                (it.node is None and id(it.value) in stored_consts)
            active = it.node is not None and it.node.index in state.active
            self._node(ax, it, alive, stored, active)
        for it in self.items:
            if it.kind in _SMALL:
                for t in it.targets:
                    self._arrow(ax, it, self.by_node[t.index], 0.0, _STYLE[it.kind]["edge"],
                                0.8, 1.0, dashed=True, head=it.kind == "const")
        label_color = _FORWARD if state.mode == "forward" else _REVERSE
        pairs: dict = {}
        for e in self.graph.edges:
            pairs.setdefault((e.parent.index, e.child.index), []).append(e)
        for (pi, ci), es in pairs.items():
            a, b = self.by_node[pi], self.by_node[ci]
            for k, e in enumerate(es):
                if len(es) > 1:                 # x * x: two arcs, one either side
                    rad = 0.3 * (2 * k / (len(es) - 1) - 1)
                elif a.y == b.y and self._between(a, b):
                    rad = self._arc_over(ax, a, b)  # arc over the nodes in between
                else:
                    rad = 0.0
                lit = e.index in state.edges
                if state.mode == "reverse" and lit:      # adjoints flow backwards
                    start, end, r, color, lw = b, a, -rad, _REVERSE, 1.5
                elif state.mode == "forward" and lit:
                    start, end, r, color, lw = a, b, rad, _FORWARD, 1.5
                else:
                    start, end, r, color, lw = a, b, rad, "#555555", 1.0
                alpha = 1.0 if (shown(ci) or lit) else _FADED
                t0, t1, length = self._arrow(ax, start, end, r, color, lw, alpha)
                text = state.labels.get(e.index)
                # a label longer than its edge would hide it: the node's note has the value
                width = _text_width(text, _FS_LABEL, False) * ax.figure.dpi / 72 if text else 0
                if text and width + 6 < length:
                    s = t0 + (0.45 if state.mode == "reverse" else 0.5) * (t1 - t0)
                    x, y = self._on_curve(ax, start, end, r, s)
                    ax.text(x, y, text, ha="center", va="center", fontsize=_FS_LABEL,
                            color=label_color, zorder=5,
                            bbox=dict(boxstyle="round,pad=0.12", fc="white", ec="none",
                                      alpha=0.9))
        # notes under their nodes; one that would overlap its left neighbour's goes above
        right_end: dict = {}                    # (row, side) -> right end of the last note
        for i in sorted(state.notes, key=lambda i: (self.by_node[i].y, self.by_node[i].col)):
            it, text = self.by_node[i], state.notes[i]
            half = (max(_text_width(line, _FS_LABEL, False) for line in text.split("\n"))
                    / 2 + 4) * self.px               # 8 points between neighbouring notes
            side = "below"
            if right_end.get((it.y, side), -np.inf) > it.col - half:
                side = "above"
            right_end[(it.y, side)] = it.col + half
            y = it.y - it.h / 2 - 4 * self.py if side == "below" else it.y + it.h / 2 + 4 * self.py
            ax.text(it.col, y, text, ha="center", va="top" if side == "below" else "bottom",
                    fontsize=_FS_LABEL, color=label_color, zorder=5,
                    bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.7))
        self._legend(ax, state, bool(self.stored_nodes or self.stored_consts))
        if state.caption:
            ax.text(self.xmin - 0.55, self.ymax + 0.68, state.caption, ha="left", va="top",
                    fontsize=9.5, color="#222222")

    @staticmethod
    def _arc_over(ax, a, b, height: float = 0.45) -> float:
        """The arc3 ``rad`` that lifts an edge a->b ``height`` rows above its row."""
        t = ax.transData
        (x1, y1), (x2, _) = t.transform((a.col, a.y)), t.transform((b.col, b.y))
        lift = t.transform((a.col, a.y + height))[1] - y1
        return -2.0 * lift / (x2 - x1)      # the curve peaks at rad * |dx| / 2

    def _between(self, a, b) -> bool:
        lo, hi = sorted((a.col, b.col))
        return any(it.y == a.y and lo < it.col < hi for it in self.items)

    def _node(self, ax, it, alive, stored, active):
        from matplotlib.patches import FancyBboxPatch
        st = _STYLE[it.kind]
        x0, y0 = it.col - it.w / 2, it.y - it.h / 2
        aspect = self.py / self.px
        if stored:
            pad = 3.5 * self.px
            ax.add_patch(FancyBboxPatch((x0, y0), it.w, it.h, mutation_aspect=aspect,
                                        boxstyle=f"round,pad={pad}", facecolor=_STORED,
                                        edgecolor="none", zorder=1.5))
        p = FancyBboxPatch((x0, y0), it.w, it.h, boxstyle=f"round,pad={self.px}",
                           mutation_aspect=aspect, facecolor=st["face"],
                           edgecolor=st["edge"], linewidth=2.2 if active else 1.0,
                           linestyle="--" if it.kind in _SMALL else "-",
                           alpha=1.0 if alive else _FADED, zorder=2)
        ax.add_patch(p)
        if not alive:
            return p
        const = it.kind in _SMALL
        weight = "normal" if const else "bold"
        fs = _FS_CONST if const else _FS_TITLE
        if it.sub:
            dy = 0.5 * 11.5 * self.py
            ax.text(it.col, it.y + dy, it.title, ha="center", va="center", fontsize=fs,
                    fontweight=weight, color="#222222", zorder=3)
            ax.text(it.col, it.y - dy, it.sub, ha="center", va="center", fontsize=_FS_SUB,
                    color="#555555", zorder=3)
        else:
            ax.text(it.col, it.y, it.title, ha="center", va="center", fontsize=fs,
                    fontweight=weight, color="#222222", zorder=3)
        return p

    @staticmethod
    def _curve(ax, a, b, rad):
        """The arc3 curve from item a to item b: its three control points, in pixels."""
        t = ax.transData
        p0, p2 = t.transform((a.col, a.y)), t.transform((b.col, b.y))
        d = p2 - p0
        p1 = (p0 + p2) / 2 + rad * np.array([d[1], -d[0]])
        return p0, p1, p2

    def _on_curve(self, ax, a, b, rad, s):
        p0, p1, p2 = self._curve(ax, a, b, rad)
        p = (1 - s) ** 2 * p0 + 2 * s * (1 - s) * p1 + s ** 2 * p2
        return ax.transData.inverted().transform(p)

    @staticmethod
    def _box_pixels(ax, it, gap: float = 2.5) -> tuple:
        """Centre and half sizes of item ``it``'s box in pixels, grown by ``gap``."""
        t = ax.transData
        cx, cy = t.transform((it.col, it.y))
        hw = t.transform((it.col + it.w / 2, it.y))[0] - cx + gap
        hh = t.transform((it.col, it.y + it.h / 2))[1] - cy + gap
        return cx, cy, hw, hh

    def _arrow(self, ax, a, b, rad, color, lw, alpha, dashed=False, head=True):
        """Draw a curved arrow from box a to box b.

        Returns the curve parameters where it leaves a and enters b, and the
        distance between those two points in pixels.

        The curve is the quadratic Bezier of matplotlib's ``arc3`` connection,
        cut where it leaves box a and where it enters box b (by bisection),
        which is much cheaper than letting matplotlib clip it at every draw.
        """
        from matplotlib.patches import FancyArrowPatch
        from matplotlib.path import Path
        p0, p1, p2 = self._curve(ax, a, b, rad)

        def at(s):
            return (1 - s) ** 2 * p0 + 2 * s * (1 - s) * p1 + s ** 2 * p2

        def outside(point, box):
            cx, cy, hw, hh = box
            return abs(point[0] - cx) > hw or abs(point[1] - cy) > hh

        def cut(inside_end, outside_end, item):
            box = self._box_pixels(ax, item)
            if not outside(at(outside_end), box):   # overlapping boxes: meet in the middle
                return outside_end
            lo, hi = inside_end, outside_end
            for _ in range(25):
                mid = (lo + hi) / 2
                if outside(at(mid), box):
                    hi = mid
                else:
                    lo = mid
            return hi

        t0, t1 = cut(0.0, 0.5, a), cut(1.0, 0.5, b)
        q0, q2 = at(t0), at(t1)
        q1 = (1 - t0) * (1 - t1) * p0 + ((1 - t0) * t1 + t0 * (1 - t1)) * p1 + t0 * t1 * p2
        inv = ax.transData.inverted()
        path = Path(inv.transform(np.array([q0, q1, q2])),
                    [Path.MOVETO, Path.CURVE3, Path.CURVE3])
        ax.add_patch(FancyArrowPatch(path=path, arrowstyle="-|>" if head else "-",
                                     mutation_scale=11 if lw > 1 else 9, lw=lw, color=color,
                                     alpha=alpha, linestyle=(0, (3, 2)) if dashed else "-",
                                     zorder=1.2))
        return t0, t1, float(np.hypot(*(q2 - q0)))

    def _legend(self, ax, state, stored):
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch
        kinds = {it.kind for it in self.items}
        names = {"input": "input", "op": "primitive", "custom": "custom rule",
                 "const": "constant / data", "residual": "residual of a custom rule",
                 "output": "output"}
        handles = [Patch(facecolor=_STYLE[k]["face"], edgecolor=_STYLE[k]["edge"],
                         linestyle="--" if k in _SMALL else "-", label=names[k])
                   for k in ("input", "op", "custom", "const", "residual", "output")
                   if k in kinds]
        if state.mode == "forward":
            handles.append(Line2D([], [], color=_FORWARD, lw=1.5, label="tangent"))
        elif state.mode == "reverse":
            handles.append(Line2D([], [], color=_REVERSE, lw=1.5, label="adjoint"))
            if stored:
                handles.append(Patch(facecolor=_STORED, edgecolor="none",
                                     label="stored for the backward pass"))
        ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0),
                  ncol=len(handles) if len(handles) <= 6 else (len(handles) + 1) // 2,
                  fontsize=8, frameon=False, handlelength=1.4, columnspacing=1.2,
                  borderaxespad=0.2)


def _overlay(graph: Graph, mode: str | None, tangents: Any, cotangent: Any,
             symbols: dict) -> _State:
    """The complete picture of one mode: every node and edge value shown."""
    state = _State(mode=mode)
    if mode is None:
        return state
    p = _run(graph, mode, tangents, cotangent)
    state.edges = {e.index for e in graph.edges}
    state.labels, state.notes = _labels(graph, p, set(range(len(graph.nodes))), symbols)
    return state


def _run(graph: Graph, mode: str, tangents: Any, cotangent: Any) -> Pass:
    if mode == "forward":
        return graph.forward_pass(_default_tangents(graph) if tangents is None else tangents)
    if mode == "reverse":
        return graph.reverse_pass(cotangent)
    raise ValueError(f"mode must be None, 'forward' or 'reverse', got {mode!r}")


def _labels(graph: Graph, p: Pass, nodes: set, symbols: dict) -> tuple[dict, dict]:
    """Edge labels and node notes once the nodes in ``nodes`` have been processed.

    Processing a node fills its incoming edges: forward, the terms of its
    tangent; reverse, the contributions it sends back to its parents.  Where a
    value fans out, each contribution is numbered (``x̄₁``) and the note of the
    value reads ``x̄ = x̄₁ + x̄₂ = ...``.  Scalars are shown with three
    significant digits; for arrays the note says which space the tangent or
    adjoint lives in and the edges stay unlabelled.
    """
    mode = p.mode
    labels, notes = {}, {}
    number = {}                      # reverse: edge -> its position among the contributions
    for node in graph.nodes:
        terms = p.contributions(node) if mode == "reverse" else []
        if len(terms) > 1 and not isinstance(node.value, tuple):
            for k, (e, _) in enumerate(terms):
                number[e.index] = k + 1
    for i in sorted(nodes):
        node = graph.nodes[i]
        for e in (graph.incoming(node) if node.kind != "output" else []):
            v = p.edge_value(e)
            if v is None or not _is_scalar(v):
                continue
            k = number.get(e.index)
            labels[e.index] = (f"${_sym(e.parent, mode, symbols, str(k))}$ = {_num(float(v))}"
                               if k else _num(float(v)))
        if mode == "forward" and node.kind == "output":
            continue
        sym = _sym(node, mode, symbols)
        n_terms = sum(1 for e in node.children if e.index in number)
        val = p[node]
        val = _zeros_like(node.value) if val is None else val
        if isinstance(node.value, tuple):
            value = ""
        elif _is_scalar(val):
            value = f" = {_num(float(_primal(val)))}"
        else:
            value = " ∈ " + _space(node.value)
        if n_terms:            # x̄ = x̄₁ + x̄₂ on one line, its value on the next
            parts = " + ".join(_sym(node, mode, symbols, str(k + 1)) for k in range(n_terms))
            notes[i] = f"${sym} = {parts}$" + ("\n" + value.strip() if value else "")
        else:
            notes[i] = f"${sym}$" + value
    return labels, notes


def _default_tangents(graph: Graph):
    """Tangent 1 for every scalar input, random (seeded) entries for arrays."""
    rng = np.random.default_rng(0)
    out = []
    for _, td, nodes in graph._arg_defs:
        leaves = [1.0 if shape_of(n.value) == () else
                  np.round(rng.standard_normal(shape_of(n.value)), 2) for n in nodes]
        out.append(tree.unflatten(td, leaves))
    return tuple(out)


def _new_figure(pic: _Picture, ax):
    import matplotlib.pyplot as plt
    if ax is not None:
        return ax.figure, ax
    fig = plt.figure(figsize=pic.figsize, dpi=pic.dpi)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    _display_once(fig)
    return fig, ax


def _display_once(fig) -> None:
    """Make a notebook show ``fig`` exactly once.

    A pyplot figure that is also a cell's value would be shown twice: as the
    value and again when the cell ends.  IPython calls ``_ipython_display_``
    whenever it displays an object, so the figure leaves pyplot's list of open
    figures (nothing left to show at the end of the cell) and is displayed
    the ordinary way.  ``fig = draw(g)``, ``plt.show()`` and a bare
    ``draw(g)`` then all show it once.
    """
    def show_and_close():
        import matplotlib.pyplot as plt
        from IPython.display import display
        plt.close(fig)
        del fig._ipython_display_         # display the ordinary way, just this once
        try:
            display(fig)
        finally:
            fig._ipython_display_ = show_and_close

    fig._ipython_display_ = show_and_close


def draw(graph: Graph, ax=None, mode: str | None = None, tangents: Any = None,
         cotangent: Any = None, symbols: dict | None = None, inputs_left: bool | None = None,
         figsize: tuple | None = None, dpi: float | None = None, title: str | None = None):
    """Draw a traced graph left to right: inputs, operations, outputs.

    Parameters
    ----------
    graph
        From :func:`trace`.
    ax
        Axes to draw into; by default a new pyplot figure of a size derived
        from the graph (deterministic).
    mode
        ``None``: the computation (node names, values of scalars, shapes of
        arrays).  ``'forward'``: also each node's tangent (below it) and the
        term each edge contributes.  ``'reverse'``: the values stored for the
        backward pass (highlighted), each node's adjoint, and the contributions
        flowing backwards along the edges; where a value is used several times
        the note reads ``x̄ = x̄₁ + x̄₂``.
    tangents, cotangent
        Seeds for the passes, as for :meth:`Graph.forward_pass` and
        :meth:`Graph.reverse_pass`.  Defaults: 1 for scalar inputs (rounded
        random entries, seed 0, for arrays); 1 for a scalar output.
    symbols
        Mathtext symbols for the values of nodes, by node key, used in the
        tangent and adjoint notes: ``{'sin': 's', 'multiply': 'z'}`` gives
        ``ṡ``, ``z̄``.  Default: one-letter input names get their accent
        (``ẋ``, ``W̄₁``), other nodes are written ``v`` with the node key as
        subscript.
    inputs_left
        ``True``: every input in the first column.  ``False``: each input in
        the column just before its first use (tidy for long chains such as a
        network loss).  ``None`` (default): first column for inputs used
        within the first two columns of operations, otherwise just before
        their first use.
    figsize, dpi
        Figure size in inches (default: from the number of columns and rows)
        and resolution (default: 100, less for wide graphs, so that the
        picture is at most 800 pixels wide).
    title
        Text at the top left.

    Returns
    -------
    matplotlib.figure.Figure
        A pyplot figure (closed when it is displayed).  In a notebook it
        appears once, whether the cell ends with ``draw(g)``, with
        ``fig = draw(g)`` or with ``plt.show()``.  With ``ax`` given, the
        figure of ``ax``, left as it is.
    """
    pic = _Picture(graph, inputs_left, figsize, dpi)
    fig, ax = _new_figure(pic, ax)
    state = _overlay(graph, mode, tangents, cotangent, symbols or {})
    state.caption = title or ""
    pic.render(ax, state)
    return fig


# ================================================================= animation ====
def _frames(graph: Graph, mode: str, tangents: Any, cotangent: Any, symbols: dict,
            max_frames: int) -> list[_State]:
    """The states of a step-by-step animation, one per frame."""
    p = _run(graph, mode, tangents, cotangent)
    inputs = [n.index for n in graph.inputs]
    ops = [[n.index] for n in graph.ops]
    outputs = [n.index for n in graph.outputs]
    fwd = [inputs] + ops
    if ops:
        fwd[-1] = fwd[-1] + outputs            # the outputs appear with the last operation
    else:
        fwd.append(outputs)
    fwd = [g for g in fwd if g]
    states: list[_State] = []

    def caption_fwd(k, n, group):
        names = ", ".join(graph.nodes[i].key for i in group if graph.nodes[i].kind == "op")
        return names, f"{k + 1}/{n}"

    if mode == "forward":
        fwd = _group(fwd, max_frames)
        done: set = set()
        for k, group in enumerate(fwd):
            done |= set(group)
            s = _State(mode="forward", done=set(done), active=set(group))
            s.labels, s.notes = _labels(graph, p, done, symbols)
            s.edges = {e.index for e in graph.edges if e.child.index in done}
            names, pos = caption_fwd(k, len(fwd), group)
            s.caption = (f"Forward mode {pos}: " +
                         (f"{names}: value and tangent (JVP rule per argument, summed)"
                          if names else "seed the input tangents"))
            states.append(s)
        return states

    rev = [[i for i in p.steps if graph.nodes[i].kind == "output"]] + \
        [[i] for i in p.steps if graph.nodes[i].kind == "op"] + \
        [[i for i in p.steps if graph.nodes[i].kind == "input"]]
    rev = [g for g in rev if g]
    if len(fwd) + len(rev) > max_frames:
        n_rev = min(len(rev), max(max_frames - len(fwd), -(-2 * max_frames // 3)))
        rev = _group(rev, n_rev)
        fwd = _group(fwd, max(max_frames - len(rev), 1))
    svs = graph.stored_values()
    done, stored, stored_consts = set(), set(), set()
    for k, group in enumerate(fwd):
        done |= set(group)
        new = [sv for sv in svs if min(u.index for u in sv.needed_by) in group]
        stored |= {sv.source.index for sv in new if sv.source is not None}
        stored_consts |= {id(sv.value) for sv in new if sv.source is None}
        s = _State(mode="reverse", done=set(done), stored=set(stored),
                   stored_consts=set(stored_consts), active=set(group))
        names, pos = caption_fwd(k, len(fwd), group)
        keep = ", ".join(sv.label for sv in new)
        s.caption = (f"Forward sweep {pos}: " +
                     (f"compute {names}; " + (f"store {keep}" if keep else "nothing to store")
                      if names else "the inputs"))
        states.append(s)
    processed: set = set()
    everything = set(range(len(graph.nodes)))
    for k, group in enumerate(rev):
        processed |= set(group)
        s = _State(mode="reverse", done=everything, active=set(group))
        s.labels, s.notes = _labels(graph, p, processed, symbols)
        s.edges = {e.index for e in graph.edges if e.child.index in processed}
        kinds = {graph.nodes[i].kind for i in group}
        names = ", ".join(graph.nodes[i].key for i in group if graph.nodes[i].kind == "op")
        s.caption = (f"Backward sweep {k + 1}/{len(rev)}: " +
                     ("seed the output adjoint" if kinds == {"output"} else
                      "input adjoints: sums of the contributions" if kinds == {"input"} else
                      f"{names}: VJP rules send contributions to the inputs"))
        states.append(s)
    return states


def _group(steps: list[list[int]], budget: int) -> list[list[int]]:
    """Merge consecutive steps so that there are at most ``budget`` of them."""
    budget = max(budget, 1)
    if len(steps) <= budget:
        return steps
    n = len(steps)
    return [[i for s in steps[(b * n) // budget:((b + 1) * n) // budget] for i in s]
            for b in range(budget)]


def animate(graph: Graph, mode: str = "forward", tangents: Any = None, cotangent: Any = None,
            symbols: dict | None = None, inputs_left: bool | None = None, max_frames: int = 15,
            interval: int = 1200, figsize: tuple | None = None, dpi: float | None = None):
    """A step-by-step animation of a forward or reverse pass.

    Parameters
    ----------
    graph
        From :func:`trace`.
    mode
        ``'forward'``: primal values and tangents appear node by node in
        topological order.  ``'reverse'``: first the forward sweep, which keeps
        the values the VJP rules will read (highlighted), then the adjoints
        flowing backwards node by node, accumulating where a value fans out.
    tangents, cotangent, symbols, inputs_left, figsize
        As for :func:`draw`.
    max_frames
        Upper bound on the number of frames; consecutive steps are merged to
        stay below it.
    interval
        Milliseconds per frame.
    dpi
        Resolution of the frames; by default as for :func:`draw`, but at most
        80 dots per inch, to keep notebooks small.

    Returns
    -------
    matplotlib.animation.FuncAnimation
        Its figure stays open (close it with ``plt.close(anim._fig)``);
        :func:`animation_html` does that for you.
    """
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation
    if mode not in ("forward", "reverse"):
        raise ValueError(f"animate: mode must be 'forward' or 'reverse', got {mode!r}")
    pic = _Picture(graph, inputs_left, figsize, dpi)
    if dpi is None:
        pic.dpi = min(pic.dpi, 80)
    states = _frames(graph, mode, tangents, cotangent, symbols or {}, max_frames)
    fig = plt.figure(figsize=pic.figsize, dpi=pic.dpi)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))

    def show(k):
        pic.render(ax, states[k])
        return []

    show(0)
    return FuncAnimation(fig, show, frames=len(states), interval=interval, repeat=False,
                         blit=False)


def animation_html(graph: Graph, mode: str = "forward", **kwargs: Any):
    """The animation of :func:`animate` as an ``IPython.display.HTML`` object.

    The figure is closed, so a notebook cell that ends with this call shows
    the player only; the player works in a static HTML page, no kernel needed.
    Keyword arguments go to :func:`animate`.

    Examples
    --------
    In a notebook cell::

        from adlib import graph
        graph.animation_html(graph.trace(f, 0.5, 2.0), mode="reverse")
    """
    import matplotlib.pyplot as plt
    from IPython.display import HTML
    anim = animate(graph, mode, **kwargs)
    try:
        html = anim.to_jshtml(default_mode="once")
    finally:
        plt.close(anim._fig)
    return HTML(html)
