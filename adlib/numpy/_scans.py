"""Functions along an axis: cumulative sums, sorting, differences, and their rules.

``cumsum`` is a primitive (its pullback is a reversed cumulative sum).
``sort`` and ``partition`` select entries of ``x`` in an order read from the
primal values, so their derivative moves each entry's tangent with it: at a
tie (two equal entries) the two orders give the same values, and the rule
uses NumPy's stable order (the tangent of the first of the tied entries goes
first) -- sorting is not differentiable there unless the tangents agree.
``diff`` and ``gradient`` are linear, written with slicing.
"""
from __future__ import annotations

import numpy as np

from adlib.engine import Primitive, _primal, shape_of
from adlib.errors import ShapeError, UnsupportedError
from adlib.numpy import _shape as shp
from adlib.numpy._reductions import _as_array
from adlib.numpy._util import def_linear

__all__ = ["cumsum", "sort", "partition", "diff", "gradient"]

_cumsum = Primitive(lambda x, axis: np.cumsum(x, axis=axis), "cumsum")


def cumsum_vjp(g, ans, x, axis): return shp.flip(_cumsum(shp.flip(g, axis), axis), axis)


def_linear(_cumsum, cumsum_vjp)


def cumsum(x, axis: int | None = None, dtype=None, out=None):
    """Cumulative sum along ``axis`` (of the flattened array if ``None``)."""
    if out is not None:
        raise UnsupportedError("anp.cumsum: out= writes in place, which adlib cannot "
                               "differentiate; use the returned array")
    x = _as_array(x)
    if axis is None:
        return _cumsum(shp.ravel(x), 0)
    return _cumsum(x, int(axis) % max(len(shape_of(x)), 1))


def _take_flat(x, index):
    """``x`` gathered at flat positions ``index`` (an integer array of any shape)."""
    return shp._getitem(shp.ravel(x), index)


def _flat_positions(shape):
    return np.arange(int(np.prod(shape)), dtype=np.intp).reshape(shape)


def sort(x, axis: int | None = -1, kind: str | None = None):
    """Sorted copy of ``x``; the derivative follows each entry (stable at ties)."""
    x = _as_array(x)
    if axis is None:
        x, axis = shp.ravel(x), 0
    order = np.argsort(_primal(x), axis=axis, kind="stable")
    return _take_flat(x, np.take_along_axis(_flat_positions(shape_of(x)), order, axis))


def partition(x, kth, axis: int = -1):
    """``x`` with its ``kth`` entry in sorted position, smaller before, larger after."""
    x = _as_array(x)
    order = np.argpartition(_primal(x), kth, axis=axis)
    return _take_flat(x, np.take_along_axis(_flat_positions(shape_of(x)), order, axis))


def _slice_along(ndim: int, axis: int, sl: slice) -> tuple:
    return (slice(None),) * (axis % ndim) + (sl,)


def diff(x, n: int = 1, axis: int = -1):
    """``n``-th forward difference along ``axis``."""
    x = _as_array(x)
    nd = len(shape_of(x))
    if nd == 0:
        raise ShapeError("anp.diff needs at least one dimension, got a 0-d value")
    for _ in range(n):
        x = shp._getitem(x, _slice_along(nd, axis, slice(1, None))) - \
            shp._getitem(x, _slice_along(nd, axis, slice(None, -1)))
    return x


def _gradient_1axis(f, axis: int, h: float):
    nd = len(shape_of(f))
    n = shape_of(f)[axis]
    if n < 2:
        raise ShapeError(f"anp.gradient: axis {axis} has length {n}; it needs at least 2 "
                         "samples")
    take = lambda sl: shp._getitem(f, _slice_along(nd, axis, sl))   # noqa: E731
    first = take(slice(1, 2)) - take(slice(0, 1))
    last = take(slice(-1, None)) - take(slice(-2, -1))
    parts = [first, (take(slice(2, None)) - take(slice(None, -2))) * 0.5, last] if n > 2 \
        else [first, last]
    return shp.concatenate(parts, axis=axis) * (1.0 / h)


def gradient(f, *varargs, axis=None, edge_order: int = 1):
    """Finite-difference gradient with NumPy's rule (central inside, one-sided at the ends).

    ``varargs`` may give one scalar spacing per axis (or one for all);
    coordinate arrays and ``edge_order=2`` are not supported.
    """
    f = _as_array(f)
    nd = len(shape_of(f))
    if edge_order != 1:
        raise UnsupportedError("anp.gradient: only edge_order=1 is supported")
    axes = tuple(range(nd)) if axis is None else \
        ((axis,) if isinstance(axis, (int, np.integer)) else tuple(axis))
    axes = tuple(int(a) % nd for a in axes)
    if len(varargs) == 0:
        spacing = [1.0] * len(axes)
    elif len(varargs) == 1:
        spacing = [varargs[0]] * len(axes)
    else:
        spacing = list(varargs)
    if any(np.ndim(h) for h in spacing) or len(spacing) != len(axes):
        raise UnsupportedError("anp.gradient: give one scalar spacing per axis "
                               "(coordinate arrays are not supported)")
    out = [_gradient_1axis(f, a, float(h)) for a, h in zip(axes, spacing)]
    return out[0] if len(out) == 1 else out
