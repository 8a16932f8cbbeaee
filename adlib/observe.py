"""Watching the engine work: what a trace evaluates and what it keeps alive.

Two tools for the chapters that measure cost:

* :func:`count` -- a context manager counting, inside the block, the primal
  evaluations of traced primitives, the JVP-rule evaluations and the
  VJP-rule / custom-pullback evaluations, per primitive name and in total.
* :func:`saved_arrays` -- what a reverse trace keeps for its backward pass:
  the number of nodes and the distinct arrays saved (inputs excluded, views
  counted once through the array that owns their memory) with their bytes.

Neither costs anything when not in use: :func:`count` installs counting
versions of the engine's dispatch methods on entry and puts the originals
back on exit, so the engine's hot path holds no check for an observer.
"""
from __future__ import annotations

import functools
import types
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from adlib import tree
from adlib.custom import CustomCall
from adlib.engine import (_BOX_TYPES, Box, Node, Primitive, VJPBox, leaf_node,
                          new_level, toposort)

__all__ = ["count", "Counts", "saved_arrays", "SavedArrays"]


# ================================================================= count ====
@dataclass
class Counts:
    """Evaluations counted by :func:`count`, per primitive name.

    Parameters
    ----------
    primal
        Primal evaluations of primitives called on traced values (a primitive
        traced at several levels is evaluated, and counted, once).
    jvp
        JVP-rule evaluations (one per traced argument; one per call for a
        primitive taking any number of arrays).
    vjp
        VJP-rule evaluations (one per cotangent of an argument) and
        evaluations of custom pullbacks (one per call, under the custom
        function's name).
    """

    primal: Counter = field(default_factory=Counter)
    jvp: Counter = field(default_factory=Counter)
    vjp: Counter = field(default_factory=Counter)

    @property
    def totals(self) -> dict[str, int]:
        """``{'primal': ..., 'jvp': ..., 'vjp': ...}`` summed over primitives."""
        return {"primal": sum(self.primal.values()), "jvp": sum(self.jvp.values()),
                "vjp": sum(self.vjp.values())}

    def __repr__(self) -> str:
        t = self.totals
        return f"Counts(primal={t['primal']}, jvp={t['jvp']}, vjp={t['vjp']})"


_active: list[Counts] = []
_originals: dict[str, Any] = {}


def _innermost(args) -> bool:
    """Whether a traced call evaluates the primal itself (no lower level left)."""
    level = None
    for a in args:
        if type(a) in _BOX_TYPES:
            if type(a.value) in _BOX_TYPES or (level is not None and a.level != level):
                return False
            level = a.level
    return level is not None


def _install() -> None:
    call = _originals["call"] = Primitive.__call__
    jvp_term = _originals["jvp_term"] = Primitive.jvp_term
    jvp_sum = _originals["jvp_sum"] = Primitive.jvp_sum
    vjp_term = _originals["vjp_term"] = Primitive.vjp_term
    cotangents = _originals["cotangents"] = Node.cotangents

    def counting_call(self, *args, **kwargs):
        if _innermost(args):
            for c in _active:
                c.primal[self.name] += 1
        return call(self, *args, **kwargs)

    def counting_jvp_term(self, i, tangent, ans, args, kwargs):
        if not self.varargs:            # varargs rules are counted by jvp_sum
            for c in _active:
                c.jvp[self.name] += 1
        return jvp_term(self, i, tangent, ans, args, kwargs)

    def counting_jvp_sum(self, tangents, ans, args, kwargs):
        if self.varargs:
            for c in _active:
                c.jvp[self.name] += 1
        return jvp_sum(self, tangents, ans, args, kwargs)

    def counting_vjp_term(self, i, g, ans, args, kwargs):
        for c in _active:
            c.vjp[self.name] += 1
        return vjp_term(self, i, g, ans, args, kwargs)

    def counting_cotangents(self, g):
        if self.custom is not None:     # a custom rule's pullback
            for c in _active:
                c.vjp[self.name] += 1
        return cotangents(self, g)

    Primitive.__call__ = counting_call
    Primitive.jvp_term = counting_jvp_term
    Primitive.jvp_sum = counting_jvp_sum
    Primitive.vjp_term = counting_vjp_term
    Node.cotangents = counting_cotangents


def _uninstall() -> None:
    Primitive.__call__ = _originals.pop("call")
    Primitive.jvp_term = _originals.pop("jvp_term")
    Primitive.jvp_sum = _originals.pop("jvp_sum")
    Primitive.vjp_term = _originals.pop("vjp_term")
    Node.cotangents = _originals.pop("cotangents")


@contextmanager
def count() -> Iterator[Counts]:
    """Count the engine's work inside a ``with`` block.

    Yields
    ------
    Counts
        Filled in as the block runs; blocks may be nested (each counts what
        runs inside it).

    Examples
    --------
    >>> import numpy as np, adlib as ad, adlib.numpy as anp
    >>> from adlib import observe
    >>> with observe.count() as counts:
    ...     g = ad.grad(lambda x: anp.sum(anp.sin(x) * x))(np.ones(3))
    >>> counts.totals
    {'primal': 3, 'jvp': 0, 'vjp': 4}
    """
    counts = Counts()
    if not _active:
        _install()
    _active.append(counts)
    try:
        yield counts
    finally:
        _active.remove(counts)
        if not _active:
            _uninstall()


# ========================================================== saved arrays ====
@dataclass
class SavedArrays:
    """What a reverse trace keeps alive for its backward pass.

    Parameters
    ----------
    nodes
        Number of nodes of the trace (inputs included).
    arrays
        The distinct arrays saved, inputs excluded; a view (``A.T``,
        ``A[1:]``) is represented by the array that owns its memory.
    nbytes
        Their total size in bytes.
    """

    nodes: int
    arrays: list
    nbytes: int

    @property
    def shapes(self) -> list[tuple]:
        """The arrays' shapes, sorted."""
        return sorted(a.shape for a in self.arrays)


def _owner(a: np.ndarray) -> np.ndarray:
    """The array that owns ``a``'s memory (``a`` itself unless it is a view)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def saved_arrays(f: Callable, *inputs: Any) -> SavedArrays:
    """Trace ``f(*inputs)`` in reverse mode and report the arrays it saves.

    Everything a node keeps for its VJP rule is visited: arguments, keyword
    arguments, the answer, a custom rule's residuals and the values a custom
    pullback closes over (and objects with ``__slots__``, such as
    ``anp.linalg.LUFactor``).

    Parameters
    ----------
    f
        Function of the arrays ``inputs`` (pytrees allowed).
    *inputs
        The point at which ``f`` is traced.

    Returns
    -------
    SavedArrays
        The node count, the saved arrays and their total bytes.
    """
    leaves, td = tree.flatten(list(inputs))
    level = new_level()
    boxed = [VJPBox(x, level, leaf_node(f"input {k}")) for k, x in enumerate(leaves)]
    out = f(*tree.unflatten(td, boxed))
    input_ids = {id(_owner(x)) for x in leaves if isinstance(x, np.ndarray)}
    found: dict[int, np.ndarray] = {}
    seen: set[int] = set()

    def visit(obj: Any) -> None:
        if id(obj) in seen or obj is None:
            return
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            owner = _owner(obj)
            if id(owner) not in input_ids:
                found.setdefault(id(owner), owner)
        elif isinstance(obj, (tuple, list)):
            for item in obj:
                visit(item)
        elif isinstance(obj, dict):
            for item in obj.values():
                visit(item)
        elif isinstance(obj, Box):
            visit(obj.value)
        elif isinstance(obj, CustomCall):
            visit(obj.residuals)
            visit(obj.primal_leaves)
            visit(obj.nondiff)
        elif isinstance(obj, types.FunctionType):   # a closure: what it captured
            for cell in obj.__closure__ or ():
                visit(cell.cell_contents)
        elif isinstance(obj, functools.partial):
            visit(obj.func)
            visit(obj.args)
            visit(obj.keywords)
        elif hasattr(type(obj), "__slots__") and not isinstance(obj, Node):
            for name in type(obj).__slots__:
                visit(getattr(obj, name, None))

    ends = [y.node for y in tree.flatten(out)[0] if type(y) is VJPBox and y.level == level]
    nodes: dict[int, Node] = {}
    for end in ends:
        for node in toposort(end):
            nodes.setdefault(id(node), node)
    for node in nodes.values():
        visit(node.args)
        visit(node.kwargs)
        visit(node.ans)
        visit(node.custom)
        visit(node.pullback)
    arrays = list(found.values())
    return SavedArrays(len(nodes), arrays, int(sum(a.nbytes for a in arrays)))

