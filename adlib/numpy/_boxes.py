"""The array protocol of traced values (autograd's ``numpy_boxes``).

The engine's :class:`~adlib.engine.Box` knows nothing of NumPy's namespace:
it holds a value and a trace level.  This module makes boxes behave like
arrays -- arithmetic operators, ``@``, indexing, ``.T``, the ndarray methods
with NumPy's argument forms, and the answers given to NumPy when a plain
NumPy function meets a traced value -- by adding :class:`ArrayBox`'s members
to ``Box`` when :mod:`adlib.numpy` is imported (:func:`install`).
"""
from __future__ import annotations

import numpy as np

from adlib.engine import _describe, _primal, extend_box, shape_of
from adlib.errors import TracingError, UnsupportedError
from adlib.numpy import _arrange as arrange
from adlib.numpy import _elementwise as ew
from adlib.numpy import _products as prod
from adlib.numpy import _reductions as red
from adlib.numpy import _scans as scans
from adlib.numpy import _shape as shp

__all__ = ["ArrayBox", "install"]

_UFUNC_OPERATORS = {
    "add": ew.add, "subtract": ew.subtract, "multiply": ew.multiply,
    "divide": ew.divide, "true_divide": ew.divide, "power": ew.power,
    "matmul": prod.matmul, "negative": ew.negative, "absolute": ew.abs,
    "remainder": ew.remainder,
    "less": ew.less, "less_equal": ew.less_equal, "greater": ew.greater,
    "greater_equal": ew.greater_equal, "equal": ew.equal, "not_equal": ew.not_equal,
}


def _anp_namespace(linalg: bool):
    """``adlib.numpy`` (or its ``linalg``), for hints in error messages only."""
    import adlib.numpy as anp
    return anp.linalg if linalg else anp


def _axes_arg(axes: tuple):
    """NumPy's forms ``f()``, ``f(None)``, ``f((1, 0))``, ``f(1, 0)`` -> one tuple or None."""
    if not axes or (len(axes) == 1 and axes[0] is None):
        return None
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        return tuple(axes[0])
    return tuple(axes)


def _no_out(method: str, out) -> None:
    if out is not None:
        raise UnsupportedError(f"x.{method}(out=...) writes into an existing array, which "
                               f"adlib cannot differentiate; use the returned value")


def _float_dtype(method: str, dtype) -> None:
    if dtype is not None and not np.issubdtype(np.dtype(dtype), np.floating):
        raise TracingError(f"x.{method}(dtype={np.dtype(dtype)}) of a value being "
                           f"differentiated would drop its derivative; adlib "
                           f"differentiates floats only")


class ArrayBox:
    """Members added to :class:`adlib.engine.Box`: a traced value acts as an array."""

    __array_priority__ = 1000.0

    T = property(lambda self: shp.transpose(self))
    mT = property(lambda self: shp.swapaxes(self, -1, -2))

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # -- NumPy meeting a traced value --------------------------------------
    def __array__(self, *args, **kwargs):
        raise TracingError(
            f"NumPy tried to convert a value being differentiated ({_describe(self)}) "
            "into a plain array, which would silently drop its derivative. Use the "
            "functions of adlib.numpy (import adlib.numpy as anp) inside functions you "
            "differentiate, e.g. anp.sin(x) instead of np.sin(x).")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        name = ufunc.__name__
        fn = _UFUNC_OPERATORS.get(name)
        if method == "__call__" and fn is not None and not kwargs:
            return fn(*inputs)
        anp = _anp_namespace(False)
        hint = (f"Use adlib.numpy.{name} instead (import adlib.numpy as anp)."
                if hasattr(anp, name) and method == "__call__" else
                f"adlib.numpy has no np.{name}"
                f"{'' if method == '__call__' else '.' + method}: "
                f"write it with adlib.numpy operations or a custom rule.")
        raise TracingError(
            f"np.{name} was applied to a value being differentiated "
            f"({_describe(self)}); plain NumPy cannot carry derivatives. {hint}")

    def __array_function__(self, func, types, args, kwargs):
        name = getattr(func, "__name__", str(func))
        if name in ("shape", "ndim", "size"):   # metadata only: harmless
            return getattr(self, name)
        mod = getattr(func, "__module__", "numpy") or "numpy"
        sub = ".linalg" if "linalg" in mod else ""
        anp = _anp_namespace(bool(sub))
        hint = (f"Use adlib.numpy{sub}.{name} instead (import adlib.numpy as anp)"
                if hasattr(anp, name) else
                f"adlib.numpy{sub} has no {name}: write it with adlib.numpy operations")
        raise TracingError(
            f"np{sub}.{name} was applied to a value being differentiated "
            f"({_describe(self)}); plain NumPy cannot carry derivatives. {hint}, or wrap "
            f"your NumPy code in ad.custom_jvp / ad.custom_vjp with a rule you derive.")

    def __setitem__(self, key, val):
        raise TracingError(
            "in-place assignment x[...] = v is not differentiable in adlib. Build the "
            "array functionally instead: anp.where, anp.concatenate or anp.stack.")

    # -- operators -----------------------------------------------------------
    def __neg__(self): return ew.negative(self)
    def __pos__(self): return self
    def __abs__(self): return ew.abs(self)
    def __add__(self, o): return ew.add(self, o)
    def __radd__(self, o): return ew.add(o, self)
    def __sub__(self, o): return ew.subtract(self, o)
    def __rsub__(self, o): return ew.subtract(o, self)
    def __mul__(self, o): return ew.multiply(self, o)
    def __rmul__(self, o): return ew.multiply(o, self)
    def __truediv__(self, o): return ew.divide(self, o)
    def __rtruediv__(self, o): return ew.divide(o, self)
    def __pow__(self, o): return ew.power(self, o)
    def __rpow__(self, o): return ew.power(o, self)
    def __mod__(self, o): return ew.remainder(self, o)
    def __rmod__(self, o): return ew.remainder(o, self)
    def __matmul__(self, o): return prod.matmul(self, o)
    def __rmatmul__(self, o): return prod.matmul(o, self)
    def __getitem__(self, idx): return shp._getitem_public(self, idx)

    # -- ndarray methods, with NumPy's argument forms --------------------------
    def sum(self, axis=None, dtype=None, out=None, keepdims=False):
        _float_dtype("sum", dtype)
        return red.sum(self, axis=axis, out=out, keepdims=keepdims)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False):
        _float_dtype("mean", dtype)
        return red.mean(self, axis=axis, out=out, keepdims=keepdims)

    def var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        _float_dtype("var", dtype)
        return red.var(self, axis=axis, out=out, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        _float_dtype("std", dtype)
        return red.std(self, axis=axis, out=out, ddof=ddof, keepdims=keepdims)

    def max(self, axis=None, out=None, keepdims=False):
        return red.max(self, axis=axis, out=out, keepdims=keepdims)

    def min(self, axis=None, out=None, keepdims=False):
        return red.min(self, axis=axis, out=out, keepdims=keepdims)

    def prod(self, axis=None, dtype=None, out=None, keepdims=False):
        _float_dtype("prod", dtype)
        return red.prod(self, axis=axis, out=out, keepdims=keepdims)

    def cumsum(self, axis=None, dtype=None, out=None):
        _float_dtype("cumsum", dtype)
        return scans.cumsum(self, axis=axis, out=out)

    def repeat(self, repeats, axis=None): return arrange.repeat(self, repeats, axis)
    def round(self, decimals=0): return np.round(_primal(self), decimals)
    def argsort(self, axis=-1): return np.argsort(_primal(self), axis=axis)
    def nonzero(self): return np.nonzero(_primal(self))
    def all(self, axis=None): return np.all(_primal(self), axis=axis)
    def any(self, axis=None): return np.any(_primal(self), axis=axis)

    def sort(self, axis=-1):
        raise TracingError("x.sort() sorts in place, which adlib cannot differentiate; "
                           "use y = anp.sort(x) instead.")

    def argmax(self, axis=None): return np.argmax(_primal(self), axis=axis)
    def argmin(self, axis=None): return np.argmin(_primal(self), axis=axis)

    def dot(self, b, out=None):
        _no_out("dot", out)
        return prod.dot(self, b)

    def clip(self, min=None, max=None, out=None):  # noqa: A002  (NumPy's names)
        _no_out("clip", out)
        return ew.clip(self, min, max)

    def reshape(self, *shape, order: str = "C"):
        new = shape[0] if len(shape) == 1 else shape
        new = tuple(new) if isinstance(new, (tuple, list)) else (new,)
        if order == "C":
            return shp.reshape(self, new)
        if order == "F":   # column-major: reverse the axes, reshape, reverse back
            return shp.transpose(shp.reshape(shp.transpose(self), new[::-1]))
        raise UnsupportedError(f"x.reshape(order={order!r}): adlib supports 'C' and 'F'")

    def ravel(self, order: str = "C"): return self.reshape(-1, order=order)
    def flatten(self, order: str = "C"): return self.reshape(-1, order=order)
    def transpose(self, *axes): return shp.transpose(self, _axes_arg(axes))
    def swapaxes(self, axis1, axis2): return shp.swapaxes(self, axis1, axis2)
    def squeeze(self, axis=None): return shp.squeeze(self, axis)

    def diagonal(self, offset=0, axis1=0, axis2=1):
        if len(shape_of(self)) != 2 or sorted((axis1 % 2, axis2 % 2)) != [0, 1]:
            raise UnsupportedError(
                f"x.diagonal on shape {shape_of(self)} with axes ({axis1}, {axis2}): "
                f"adlib takes diagonals of matrices (2-D) only")
        return shp.diag(self if axis1 % 2 == 0 else shp.transpose(self), offset)

    def trace(self, offset=0, axis1=0, axis2=1, dtype=None, out=None):
        _no_out("trace", out)
        _float_dtype("trace", dtype)
        return red.sum(self.diagonal(offset, axis1, axis2))

    def copy(self): return self
    def conj(self): return self
    conjugate = conj

    def astype(self, dtype, *args, **kwargs):
        """A float dtype keeps the value traced; an integer or boolean dtype gives a
        plain, non-differentiable array (its derivative is zero almost everywhere)."""
        if np.issubdtype(np.dtype(dtype), np.floating):
            return self
        if np.issubdtype(np.dtype(dtype), np.complexfloating):
            raise TracingError(f"astype({np.dtype(dtype)}) of a value being "
                               "differentiated: adlib differentiates real floats only.")
        return np.asarray(_primal(self)).astype(dtype, *args, **kwargs)


def install() -> None:
    """Give :class:`adlib.engine.Box` the array protocol (done on import)."""
    extend_box(ArrayBox)

