"""Helpers shared by the rule tables."""
from __future__ import annotations

from adlib.engine import shape_of


def unbroadcast(g, shape: tuple):
    """Sum ``g`` down to ``shape``: the adjoint of broadcasting to ``g``'s shape.

    Every binary rule calls this, so broadcasting is handled in one place.
    """
    gshape = shape_of(g)
    if gshape == shape:
        return g
    from adlib import numpy as anp
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and gshape[lead + i] != 1)
    if axes:
        g = anp.sum(g, axis=axes, keepdims=True)
    return anp.reshape(g, shape)


def broadcast_like(t, ans):
    """Broadcast a tangent to the answer's shape (the adjoint of :func:`unbroadcast`).

    JVP rules whose tangent can lack the dimensions that broadcasting gave the
    answer (``add``, ``subtract``, ``where``) end with it; the engine does not
    broadcast tangents.
    """
    shape = shape_of(ans)
    if shape_of(t) == shape:
        return t
    from adlib.numpy._shape import broadcast_to
    return broadcast_to(t, shape)


def swap_last(x):
    """Swap the last two axes: the transpose of a matrix or of a stack of them."""
    from adlib import numpy as anp
    return anp.swapaxes(x, -1, -2)


def unbroadcast_to(g, x):
    """``unbroadcast(g, shape of x)``."""
    return unbroadcast(g, shape_of(x))
