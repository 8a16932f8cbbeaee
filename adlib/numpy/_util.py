"""Helpers shared by the rule tables."""
from __future__ import annotations

from typing import Callable, Sequence

from adlib.engine import Primitive, defjvp, defvjp, shape_of


def def_linear(prim: Primitive, vjp_rule: Callable, reads: Sequence = ((),)) -> None:
    """Register the rules of a primitive that is linear in its first argument.

    Its JVP is the primitive itself applied to the tangent (with the same
    other arguments), so only the VJP rule -- the adjoint map -- is written.

    Parameters
    ----------
    prim
        A primitive ``prim(x, *params, **kw)`` linear in ``x``.
    vjp_rule
        ``vjp_rule(g, ans, x, *params, **kw)``, the adjoint applied to ``g``.
    reads
        What the VJP rule reads from the forward pass (see
        :func:`adlib.engine.defvjp`); a linear map's adjoint reads nothing.
    """
    def linear_jvp(t, ans, x, *params, **kwargs):
        return prim(t, *params, **kwargs)
    linear_jvp.__name__ = linear_jvp.__qualname__ = f"{prim.name}_jvp"
    defjvp(prim, linear_jvp)
    defvjp(prim, vjp_rule, reads=reads)


def unbroadcast(g, shape: tuple):
    """Sum ``g`` down to ``shape``: the adjoint of broadcasting to ``g``'s shape.

    Every binary rule calls this, so broadcasting is handled in one place.
    """
    gshape = shape_of(g)
    if gshape == shape:
        return g
    from adlib.numpy._reductions import sum as _sum
    from adlib.numpy._shape import reshape
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and gshape[lead + i] != 1)
    if axes:
        g = _sum(g, axis=axes, keepdims=True)
    return reshape(g, shape)


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
    from adlib.numpy._shape import swapaxes
    return swapaxes(x, -1, -2)


def unbroadcast_to(g, x):
    """``unbroadcast(g, shape of x)``."""
    return unbroadcast(g, shape_of(x))
