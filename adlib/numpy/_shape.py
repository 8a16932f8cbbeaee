"""Shape manipulation, indexing and joining, and their rules.

All of these are linear, so each JVP rule is the function itself applied to
the tangent, and each VJP rule is the adjoint (transpose) of that map.
"""
from __future__ import annotations

import numpy as np

from adlib.engine import Primitive, Scatter, _primal, defjvp, defvjp, shape_of
from adlib.errors import ShapeError
from adlib.numpy._util import def_linear, unbroadcast

Prim = Primitive

reshape = Prim(lambda x, shape: np.reshape(x, shape), "reshape")
_transpose = Prim(lambda x, axes=None: np.transpose(x, axes), "transpose")
swapaxes = Prim(lambda x, axis1, axis2: np.swapaxes(x, axis1, axis2), "swapaxes")
expand_dims = Prim(lambda x, axis: np.expand_dims(x, axis), "expand_dims")
_squeeze = Prim(lambda x, axis=None: np.squeeze(x, axis), "squeeze")
broadcast_to = Prim(lambda x, shape: np.broadcast_to(x, shape), "broadcast_to")
_getitem = Prim(lambda x, idx: x[idx], "getitem")
triu = Prim(lambda x, k=0: np.triu(x, k), "triu")
tril = Prim(lambda x, k=0: np.tril(x, k), "tril")
flip = Prim(lambda x, axis=None: np.flip(x, axis), "flip")
_diag = Prim(lambda x, k=0: np.diag(x, k), "diag")
_trace = Prim(lambda x: np.trace(x), "trace")
_diagonal = Prim(lambda x, offset=0, axis1=0, axis2=1: np.diagonal(x, offset, axis1, axis2).copy(),
              "diagonal")


def _undiagonal_fun(g, offset, axis1, axis2, shape):
    """Zeros of ``shape`` with ``g`` on the diagonal that ``np.diagonal`` reads."""
    out = np.zeros(shape, dtype=np.result_type(g, np.float64))
    view = np.moveaxis(out, (axis1, axis2), (-2, -1))
    k = np.shape(g)[-1] if np.ndim(g) else 0
    rows = np.arange(k) + max(-offset, 0)
    cols = np.arange(k) + max(offset, 0)
    view[..., rows, cols] = g
    return out


_undiagonal = Prim(_undiagonal_fun, "undiagonal")   # adjoint of diagonal


def _is_basic(idx) -> bool:
    """Basic indexing (ints, slices, None, ...) never repeats an element."""
    items = idx if isinstance(idx, tuple) else (idx,)
    return all(isinstance(i, (int, np.integer, slice, type(None), type(Ellipsis)))
               for i in items)


def _untake_fun(g, idx, shape):
    out = np.zeros(shape, dtype=np.result_type(g, np.float64))
    if _is_basic(idx):
        out[idx] = g
    else:
        np.add.at(out, idx, g)   # repeated fancy indices accumulate
    return out


_untake = Prim(_untake_fun, "untake")   # adjoint of indexing: scatter-add into zeros


def _inverse_axes(axes, ndim):
    if axes is None:
        return None
    return tuple(np.argsort([a % ndim for a in axes]))


def reshape_vjp(g, ans, x, shape): return reshape(g, shape_of(x))
def transpose_vjp(g, ans, x, axes=None): return _transpose(g, _inverse_axes(axes, len(shape_of(x))))
def swapaxes_vjp(g, ans, x, axis1, axis2): return swapaxes(g, axis1, axis2)
def expand_dims_vjp(g, ans, x, axis): return reshape(g, shape_of(x))
def squeeze_vjp(g, ans, x, axis=None): return reshape(g, shape_of(x))
def broadcast_to_vjp(g, ans, x, shape): return unbroadcast(g, shape_of(x))
def untake_vjp(h, ans, g, idx, shape): return _getitem(h, idx)
def triu_vjp(g, ans, x, k=0): return triu(g, k)      # masks are self-adjoint
def tril_vjp(g, ans, x, k=0): return tril(g, k)
def flip_vjp(g, ans, x, axis=None): return flip(g, axis)
def trace_vjp(g, ans, x): return g * np.eye(*shape_of(x))
def diagonal_vjp(g, ans, x, offset=0, axis1=0, axis2=1):
    return _undiagonal(g, offset, axis1, axis2, shape_of(x))
def undiagonal_vjp(h, ans, g, offset, axis1, axis2, shape):
    return _diagonal(h, offset, axis1, axis2)


def getitem_vjp(g, ans, x, idx):
    if type(g) is np.ndarray and _is_basic(idx):
        return Scatter(g, idx, shape_of(x))   # accumulated lazily by the backward pass
    return _untake(g, idx, shape_of(x))


def diag_vjp(g, ans, x, k=0):
    shape = shape_of(x)
    if len(shape) == 1:           # vector -> matrix: read the diagonal back
        return _diag(g, k)
    n = shape_of(ans)[0]          # matrix -> vector: scatter onto the diagonal
    rows = np.arange(n) + max(-k, 0)
    cols = np.arange(n) + max(k, 0)
    return _untake(g, (rows, cols), shape)


# Each of these is linear: its JVP is itself applied to the tangent (def_linear),
# its VJP the adjoint map above, which reads no value of the forward pass.
def_linear(reshape, reshape_vjp)
def_linear(_transpose, transpose_vjp)
def_linear(swapaxes, swapaxes_vjp)
def_linear(expand_dims, expand_dims_vjp)
def_linear(_squeeze, squeeze_vjp)
def_linear(broadcast_to, broadcast_to_vjp)
def_linear(_getitem, getitem_vjp)
def_linear(_untake, untake_vjp)
def_linear(triu, triu_vjp)
def_linear(tril, tril_vjp)
def_linear(flip, flip_vjp)
def_linear(_diag, diag_vjp)
def_linear(_trace, trace_vjp)
def_linear(_diagonal, diagonal_vjp)
def_linear(_undiagonal, undiagonal_vjp)


# ---- joining: any number of array arguments, one rule told its index ----------
def _concat_fun(*arrays, axis=0):
    return np.concatenate(arrays, axis=axis)


def _stack_fun(*arrays, axis=0):
    return np.stack(arrays, axis=axis)


_concatenate = Prim(_concat_fun, "concatenate", varargs=True)
_stack = Prim(_stack_fun, "stack", varargs=True)


def _slot(i, arrays, axis, sizes):
    """Index selecting argument ``i``'s block of a concatenation."""
    start = int(np.sum(sizes[:i]))
    ndim = len(shape_of(arrays[0]))
    ax = axis % ndim
    return (slice(None),) * ax + (slice(start, start + sizes[i]),)


def _tangents_or_zeros(tangents, arrays):
    return [np.zeros(shape_of(a)) if t is None else t for t, a in zip(tangents, arrays)]


def concatenate_jvp(tangents, ans, *arrays, axis=0):
    return _concatenate(*_tangents_or_zeros(tangents, arrays), axis=axis)


def concatenate_vjp(i, g, ans, *arrays, axis=0):
    sizes = [shape_of(a)[axis] for a in arrays]
    return _getitem(g, _slot(i, arrays, axis, sizes))


def stack_jvp(tangents, ans, *arrays, axis=0):
    return _stack(*_tangents_or_zeros(tangents, arrays), axis=axis)


def stack_vjp(i, g, ans, *arrays, axis=0):
    ax = axis % len(shape_of(ans))
    return _getitem(g, (slice(None),) * ax + (i,))


defjvp(_concatenate, concatenate_jvp); defvjp(_concatenate, concatenate_vjp, reads=[()])
defjvp(_stack, stack_jvp);             defvjp(_stack, stack_vjp, reads=[()])


# ---- public wrappers with NumPy's signatures ------------------------------------
def concatenate(arrays, axis=0):
    """Join a sequence of arrays along an existing axis."""
    return _concatenate(*arrays, axis=axis)


def stack(arrays, axis=0):
    """Join a sequence of arrays along a new axis."""
    return _stack(*arrays, axis=axis)


def hstack(arrays):
    """Stack arrays column-wise (along axis 1, or 0 for 0-d and 1-D arrays)."""
    arrays = [reshape(a, (1,)) if not shape_of(a) else a for a in arrays]
    return concatenate(arrays, axis=0 if len(shape_of(arrays[0])) == 1 else 1)


def vstack(arrays):
    """Stack arrays row-wise."""
    return concatenate([atleast_2d(a) for a in arrays], axis=0)


def atleast_2d(x):
    """View ``x`` with at least two dimensions."""
    shape = shape_of(x)
    return reshape(x, (1,) * (2 - len(shape)) + shape) if len(shape) < 2 else x


def transpose(x, axes=None):
    """Permute the axes (reverse them by default)."""
    return _transpose(x, None if axes is None else tuple(axes))


def squeeze(x, axis=None):
    """Remove axes of length one."""
    return _squeeze(x, axis)


def ravel(x):
    """Flatten to one dimension."""
    return reshape(x, (-1,))


def diag(x, k=0):
    """Extract a diagonal, or build a diagonal matrix from a vector."""
    return _diag(x, k)


def diagonal(x, offset: int = 0, axis1: int = 0, axis2: int = 1):
    """The diagonal over ``axis1`` and ``axis2``, as a new last axis (NumPy's order)."""
    if len(shape_of(x)) < 2:
        raise ShapeError(f"anp.diagonal expects at least 2 dimensions, got shape {shape_of(x)}")
    return _diagonal(x, offset, axis1, axis2)


def trace(x, offset: int = 0, axis1: int = 0, axis2: int = 1):
    """Sum along a diagonal (NumPy's signature)."""
    if len(shape_of(x)) < 2:
        raise ShapeError(f"anp.trace expects at least 2 dimensions, got shape {shape_of(x)}")
    if offset == 0 and (axis1, axis2) == (0, 1) and len(shape_of(x)) == 2:
        return _trace(x)
    from adlib.numpy._reductions import sum as _sum
    return _sum(_diagonal(x, offset, axis1, axis2), axis=-1)


def _axis_tuple(axes, ndim: int) -> tuple:
    axes = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    return tuple(int(a) % ndim for a in axes)


def moveaxis(x, source, destination):
    """Move axes (an int or a sequence of them) to new positions."""
    ndim = len(shape_of(x))
    source, destination = _axis_tuple(source, ndim), _axis_tuple(destination, ndim)
    if len(source) != len(destination):
        raise ShapeError(f"anp.moveaxis: source {source} and destination {destination} "
                         "must have the same number of axes")
    order = [a for a in range(ndim) if a not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return _transpose(x, tuple(order))


def _getitem_public(x, idx):
    if type(idx) is list:
        idx = np.asarray(idx)
    return _getitem(x, _strip_idx(idx))


def _strip_idx(idx):
    if isinstance(idx, tuple):
        return tuple(_primal(i) for i in idx)
    return _primal(idx)
