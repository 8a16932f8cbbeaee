"""The spaces a linear map acts on: a pytree structure plus the shape of each leaf.

Structures come from :mod:`adlib.tree` (the one pytree implementation of adlib),
so tuples stay tuples, lists stay lists and dicts keep their keys.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from adlib.errors import ShapeError

from adlib import tree as _tree
from adlib.tree import TreeDef

#: A value a linear map acts on: an array, a scalar, or a tuple/list/dict of such values.
Tree = Any


@dataclass(frozen=True)
class Space:
    """The structure of a value (its :class:`adlib.tree.TreeDef`) and its leaves' shapes."""

    treedef: TreeDef
    shapes: tuple

    @property
    def size(self) -> int:
        """Number of scalars in a value of this space."""
        return int(sum(int(np.prod(s, dtype=int)) for s in self.shapes))


def space_of(value: Tree) -> Space:
    """The :class:`Space` of ``value``."""
    leaves, treedef = _tree.flatten(value)
    return Space(treedef, tuple(tuple(np.shape(leaf)) for leaf in leaves))


def describe(space: Space) -> str:
    """Human-readable structure, e.g. ``shape (3, 4)`` or ``tuple (shape (3,), shape ())``."""
    shapes = iter(space.shapes)

    def walk(td: TreeDef) -> str:
        if td.kind == "leaf":
            return f"shape {next(shapes)}"
        if td.kind == "none":
            return "None"
        parts = [walk(c) for c in td.children]
        if td.kind == "dict":
            return "dict {" + ", ".join(f"{k!r}: {p}" for k, p in zip(td.meta, parts)) + "}"
        if td.kind == "list":
            return "list [" + ", ".join(parts) + "]"
        return "tuple (" + ", ".join(parts) + ")"

    return walk(space.treedef)


def leaves(value: Tree) -> list:
    """The arrays of ``value``, in :func:`adlib.tree.flatten` order."""
    return _tree.flatten(value)[0]


def build(space: Space, make_leaf: Callable) -> Tree:
    """A value of ``space`` whose leaves are ``make_leaf(shape)``."""
    return _tree.unflatten(space.treedef, [make_leaf(s) for s in space.shapes])


def tree_map(fn: Callable, *values: Tree) -> Tree:
    """``fn`` applied leaf by leaf (the structure, lists included, is kept)."""
    return _tree.tree_map(fn, *values)


def to_vector(value: Tree) -> np.ndarray:
    """Concatenate the leaves of ``value`` (each raveled in C order) into one vector."""
    parts = [np.ravel(np.asarray(leaf, dtype=float)) for leaf in leaves(value)]
    return np.concatenate(parts) if parts else np.zeros(0)


def from_vector(space: Space, vector: np.ndarray) -> Tree:
    """Inverse of :func:`to_vector` for a value of ``space``."""
    position = 0

    def take(shape):
        nonlocal position
        n = int(np.prod(shape, dtype=int))
        leaf = vector[position: position + n].reshape(shape)
        position += n
        return leaf

    return build(space, take)


def check_structure(value: Tree, space: Space, who: str, what: str, hint: str = "") -> None:
    """Raise a ShapeError naming ``who`` if ``value`` does not lie in ``space``."""
    actual = space_of(value)
    if actual != space:
        message = f"{who}: {what} has {describe(actual)}, expected {describe(space)}."
        raise ShapeError(message + (" " + hint if hint else ""))


def paren(name: str) -> str:
    """``name`` in parentheses if it contains a space (for composite names)."""
    return f"({name})" if " " in name else name


def default_name(action: Callable) -> str:
    """The name of a function, or ``"anonymous"`` for a lambda."""
    name = getattr(action, "__name__", None)
    return name if name and name != "<lambda>" else "anonymous"
