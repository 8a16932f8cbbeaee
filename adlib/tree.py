"""Pytrees: nested tuples, lists and dicts whose leaves are arrays or numbers.

Every public transformation accepts pytrees.  ``flatten`` turns one into a
list of leaves plus a ``TreeDef`` that ``unflatten`` uses to rebuild it.
Dict keys are visited in sorted order, so flattening is deterministic.
"""
from __future__ import annotations

from typing import Any, Callable

from adlib.errors import ShapeError

__all__ = ["TreeDef", "flatten", "unflatten", "tree_map"]


class TreeDef:
    """The structure of a pytree with its leaves taken out."""

    __slots__ = ("kind", "meta", "children")

    def __init__(self, kind: str, meta: Any = None, children: tuple = ()):
        self.kind = kind          # "leaf", "none", "tuple", "list" or "dict"
        self.meta = meta          # dict keys, for dicts
        self.children = children  # child TreeDefs

    @property
    def num_leaves(self) -> int:
        if self.kind == "leaf":
            return 1
        return sum(c.num_leaves for c in self.children)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, TreeDef) and self.kind == other.kind
                and self.meta == other.meta and self.children == other.children)

    def __hash__(self) -> int:
        return hash((self.kind, self.meta, self.children))

    def __repr__(self) -> str:
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        inner = ", ".join(repr(c) for c in self.children)
        if self.kind == "tuple":
            return f"({inner}{',' if len(self.children) == 1 else ''})"
        if self.kind == "list":
            return f"[{inner}]"
        return "{" + ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.meta, self.children)) + "}"


_LEAF = TreeDef("leaf")
_NONE = TreeDef("none")


def flatten(tree: Any) -> tuple[list, TreeDef]:
    """Return the leaves of ``tree`` (depth first) and its structure."""
    leaves: list = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree: Any, leaves: list) -> TreeDef:
    t = type(tree)
    if t is tuple or t is list:
        kids = tuple(_flatten(x, leaves) for x in tree)
        return TreeDef(t.__name__, None, kids)
    if t is dict:
        keys = tuple(sorted(tree))
        return TreeDef("dict", keys, tuple(_flatten(tree[k], leaves) for k in keys))
    if tree is None:
        return _NONE
    leaves.append(tree)
    return _LEAF


def unflatten(treedef: TreeDef, leaves: list) -> Any:
    """Inverse of :func:`flatten`."""
    it = iter(leaves)
    out = _unflatten(treedef, it)
    return out


def _unflatten(td: TreeDef, it) -> Any:
    if td.kind == "leaf":
        return next(it)
    if td.kind == "none":
        return None
    kids = [_unflatten(c, it) for c in td.children]
    if td.kind == "tuple":
        return tuple(kids)
    if td.kind == "list":
        return kids
    return dict(zip(td.meta, kids))


def tree_map(fn: Callable, tree: Any, *rest: Any) -> Any:
    """Apply ``fn`` leaf by leaf to one or more pytrees of the same structure."""
    leaves, td = flatten(tree)
    others = [flatten(r) for r in rest]
    for lv, otd in others:
        if otd != td:
            raise ShapeError(f"tree_map: the pytrees have different structures, {td!r} and "
                             f"{otd!r}; every tree must have the first one's structure")
    return unflatten(td, [fn(*xs) for xs in zip(leaves, *(lv for lv, _ in others))])

