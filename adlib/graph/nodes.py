"""The parts of a traced graph: nodes, edges, stored values, and how values are described."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adlib.engine import _primal, shape_of
from adlib.errors import AdlibError

__all__ = ["GraphNode", "Edge", "StoredValue", "UnknownNodeError", "GraphArgumentError"]


class UnknownNodeError(AdlibError, KeyError):
    """A node key that the graph does not have."""

    def __str__(self) -> str:            # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


@dataclass(eq=False)
class GraphNode:
    """One node of a :class:`~adlib.graph.Graph`: an input, an operation or an output."""

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


# ------------------------------------------------------------- describing values ----
def is_numeric(a: Any) -> bool:
    """Whether ``a`` is a number or a NumPy array (not a bool, not an LU factor)."""
    return (isinstance(a, (int, float, complex, np.ndarray, np.number))
            and not isinstance(a, bool))


def is_scalar(v: Any) -> bool:
    """Whether ``v`` (boxed or not) is a numeric scalar."""
    v = _primal(v)
    return is_numeric(v) and np.ndim(v) == 0


def num(x: float, digits: int = 3) -> str:
    """``x`` with ``digits`` significant digits; never ``-0``."""
    s = f"{x:.{digits}g}"
    return "0" if s in ("-0", "-0.0") else s


def shape_text(shape: tuple) -> str:
    """``(3,)``, ``(4, 3)``: a shape as Python prints it."""
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def describe_value(v: Any, digits: int = 3) -> str:
    """Scalars with ``digits`` significant digits; arrays by shape."""
    if isinstance(v, (tuple, list)):
        return "(" + ", ".join(describe_value(x, digits) for x in v) + ")"
    v = _primal(v)
    if not is_numeric(v):
        return type(v).__name__
    a = np.asarray(v)
    if a.ndim == 0:
        return num(a.item(), digits)
    return "array " + shape_text(a.shape)


def zeros_like(x: Any) -> Any:
    """A float zero of the shape of ``x`` (a tuple of them for a tuple)."""
    if isinstance(x, tuple):
        return tuple(zeros_like(v) for v in x)
    return np.zeros(shape_of(x), dtype=np.result_type(_primal(x), np.float64))[()]


class GraphArgumentError(AdlibError, ValueError):
    """An argument of a graph function that is not one of its options."""
