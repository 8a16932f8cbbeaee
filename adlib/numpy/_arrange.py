"""Rearranging, repeating, splitting and joining arrays.

Every function here only moves, copies or drops entries (or fills with a
constant), so it is linear and needs no rule of its own.  Most are *gathers*:
NumPy's own function is applied to the array of flat positions
``0, 1, ..., size - 1`` and the result indexes ``ravel(x)``.  The derivative
is then that same gather applied to the tangent, and the pullback
scatter-adds the cotangent back (repeated positions accumulate), both from the
indexing primitive in :mod:`adlib.numpy._shape`.
"""
from __future__ import annotations

import numpy as np

from adlib.engine import Box, _primal, shape_of
from adlib.errors import ShapeError, UnsupportedError
from adlib.numpy import _elementwise as elw
from adlib.numpy import _shape as shp

__all__ = ["repeat", "tile", "roll", "rot90", "flipud", "fliplr", "rollaxis", "split",
           "array_split", "hsplit", "vsplit", "dsplit", "append", "pad", "kron", "cross",
           "column_stack", "row_stack", "atleast_1d", "atleast_3d", "select", "r_", "c_",
           "linspace"]


def _gather(x, numpy_fun, *args, **kwargs):
    """``numpy_fun`` applied to ``x`` by gathering: exact for any function that moves entries."""
    shape = shape_of(x)
    positions = np.arange(int(np.prod(shape)), dtype=np.intp).reshape(shape)
    index = numpy_fun(positions, *args, **kwargs)
    if isinstance(index, list):
        return [shp._getitem(shp.ravel(x), i) for i in index]
    return shp._getitem(shp.ravel(x), index)


def repeat(x, repeats, axis: int | None = None):
    """Repeat entries (NumPy's ``repeat``)."""
    return _gather(x, np.repeat, repeats, axis=axis)


def tile(x, reps):
    """Tile ``x`` ``reps`` times."""
    return _gather(x, np.tile, reps)


def roll(x, shift, axis=None):
    """Roll entries along ``axis`` (of the flattened array if ``None``)."""
    return _gather(x, np.roll, shift, axis=axis)


def rot90(x, k: int = 1, axes=(0, 1)):
    """Rotate by 90 degrees ``k`` times in the plane of ``axes``."""
    return _gather(x, np.rot90, k, axes)


def flipud(x):
    """Reverse the first axis."""
    return shp.flip(x, 0)


def fliplr(x):
    """Reverse the second axis."""
    return shp.flip(x, 1)


def rollaxis(x, axis: int, start: int = 0):
    """Move ``axis`` to position ``start`` (NumPy's ``rollaxis``)."""
    nd = len(shape_of(x))
    axis = axis % nd
    start = start + nd if start < 0 else start
    if not 0 <= start <= nd:
        raise ShapeError(f"anp.rollaxis: start={start} is out of range for {nd} dimensions")
    if axis < start:
        start -= 1
    perm = [a for a in range(nd) if a != axis]
    perm.insert(start, axis)
    return shp.transpose(x, tuple(perm))


def split(x, indices_or_sections, axis: int = 0):
    """Split into equal sections (or at indices) along ``axis``; a list of arrays."""
    return _gather(x, np.split, indices_or_sections, axis=axis)


def array_split(x, indices_or_sections, axis: int = 0):
    """Split into nearly equal sections along ``axis``."""
    return _gather(x, np.array_split, indices_or_sections, axis=axis)


def hsplit(x, indices_or_sections):
    """Split along the second axis (the first for 1-D)."""
    return _gather(x, np.hsplit, indices_or_sections)


def vsplit(x, indices_or_sections):
    """Split along the first axis."""
    return _gather(x, np.vsplit, indices_or_sections)


def dsplit(x, indices_or_sections):
    """Split along the third axis."""
    return _gather(x, np.dsplit, indices_or_sections)


def append(arr, values, axis: int | None = None):
    """``arr`` with ``values`` appended (both flattened if ``axis`` is ``None``)."""
    from adlib.numpy._reductions import _as_array
    arr, values = _as_array(arr), _as_array(values)
    if axis is None:
        return shp.concatenate([shp.ravel(arr), shp.ravel(values)], axis=0)
    return shp.concatenate([arr, values], axis=axis)


def pad(x, pad_width, mode: str = "constant", **kwargs):
    """Pad an array (NumPy's ``pad``) in the modes that copy entries or a constant.

    ``'constant'`` (``constant_values`` plain numbers), ``'edge'``, ``'reflect'``,
    ``'symmetric'`` and ``'wrap'`` are supported.
    """
    if mode in ("edge", "reflect", "symmetric", "wrap"):
        return _gather(x, np.pad, pad_width, mode=mode, **kwargs)
    if mode != "constant":
        raise UnsupportedError(f"anp.pad: mode={mode!r} is not supported; use 'constant', "
                               "'edge', 'reflect', 'symmetric' or 'wrap'")
    fill = kwargs.pop("constant_values", 0)
    if kwargs or isinstance(fill, Box):
        raise UnsupportedError(f"anp.pad: options {sorted(kwargs)} or a traced "
                               "constant_values are not supported")
    shape = shape_of(x)
    positions = np.arange(int(np.prod(shape)), dtype=np.intp).reshape(shape)
    index = np.pad(positions, pad_width, mode="constant", constant_values=-1)
    inside = index >= 0
    gathered = shp._getitem(shp.ravel(x), np.where(inside, index, 0))
    outside = np.pad(np.zeros(shape), pad_width, mode="constant", constant_values=fill)
    return elw.where(inside, gathered, outside)


def kron(a, b):
    """Kronecker product."""
    sa, sb = shape_of(a), shape_of(b)
    nd = max(len(sa), len(sb))
    sa, sb = (1,) * (nd - len(sa)) + sa, (1,) * (nd - len(sb)) + sb
    a = shp.reshape(a, tuple(n for m in sa for n in (m, 1)))
    b = shp.reshape(b, tuple(n for m in sb for n in (1, m)))
    return shp.reshape(a * b, tuple(m * n for m, n in zip(sa, sb)))


def cross(a, b, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: int | None = None):
    """Cross product of 3-vectors (or 2-vectors, giving the z component)."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = shp.moveaxis(a, axisa, -1), shp.moveaxis(b, axisb, -1)
    na, nb = shape_of(a)[-1], shape_of(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ShapeError(f"anp.cross: vectors must have 2 or 3 components, got {na} and {nb}")
    comp = lambda v, i, n: v[..., i] if i < n else 0.0   # noqa: E731
    a0, a1, a2 = (comp(a, i, na) for i in range(3))
    b0, b1, b2 = (comp(b, i, nb) for i in range(3))
    z = a0 * b1 - a1 * b0
    if na == 2 and nb == 2:
        return z
    out = shp.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, z], axis=-1)
    return shp.moveaxis(out, -1, axisc)


def atleast_1d(*arrays):
    """View each argument with at least one dimension."""
    out = [x if len(shape_of(x)) >= 1 else shp.reshape(x, (1,)) for x in arrays]
    return out[0] if len(out) == 1 else out


def atleast_3d(*arrays):
    """View each argument with at least three dimensions (NumPy's placement)."""
    def lift(x):
        s = shape_of(x)
        if len(s) == 0:
            return shp.reshape(x, (1, 1, 1))
        if len(s) == 1:
            return shp.reshape(x, (1,) + s + (1,))
        if len(s) == 2:
            return shp.reshape(x, s + (1,))
        return x
    out = [lift(x) for x in arrays]
    return out[0] if len(out) == 1 else out


def column_stack(arrays):
    """Stack 1-D arrays as columns (2-D arrays as they are)."""
    cols = [shp.reshape(a, (-1, 1)) if len(shape_of(a)) < 2 else a for a in arrays]
    return shp.concatenate(cols, axis=1)


def row_stack(arrays):
    """Stack arrays as rows (``vstack``)."""
    return shp.vstack(arrays)


def select(condlist, choicelist, default=0.0):
    """The first choice whose condition holds, else ``default`` (conditions are data)."""
    if len(condlist) != len(choicelist):
        raise ShapeError(f"anp.select: {len(condlist)} conditions but {len(choicelist)} "
                         "choices")
    out = default
    for cond, choice in reversed(list(zip(condlist, choicelist))):
        out = elw.where(_primal(cond), choice, out)
    return out


def linspace(start, stop, num: int = 50, endpoint: bool = True, retstep: bool = False,
             dtype=None, axis: int = 0):
    """``num`` evenly spaced values from ``start`` to ``stop``; the ends may be traced."""
    if not isinstance(start, Box) and not isinstance(stop, Box):
        return np.linspace(start, stop, num, endpoint=endpoint, retstep=retstep,
                           dtype=dtype, axis=axis)
    if retstep or axis != 0:
        raise UnsupportedError("anp.linspace of traced ends: retstep and axis are not "
                               "supported")
    fractions = np.linspace(0.0, 1.0, num, endpoint=endpoint)
    nd = max(len(shape_of(start)), len(shape_of(stop)))
    fractions = fractions.reshape((num,) + (1,) * nd)
    return start + (stop - start) * fractions


class _Concatenator:
    """``r_[...]`` and ``c_[...]`` for arrays and slices (no string directives)."""

    def __init__(self, columns: bool):
        self.columns = columns

    def __getitem__(self, items):
        items = items if isinstance(items, tuple) else (items,)
        parts = []
        for item in items:
            if isinstance(item, str):
                raise UnsupportedError("anp.r_ / anp.c_: string directives are not "
                                       "supported; use anp.concatenate")
            part = np.r_[item] if isinstance(item, slice) else item
            if not isinstance(part, (Box, np.ndarray)):
                part = np.asarray(part, dtype=float)
            if self.columns:
                part = shp.reshape(part, (-1, 1)) if len(shape_of(part)) < 2 else part
            else:
                part = atleast_1d(part)
            parts.append(part)
        return shp.concatenate(parts, axis=-1 if self.columns else 0)


r_ = _Concatenator(columns=False)
c_ = _Concatenator(columns=True)
