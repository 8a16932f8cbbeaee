"""``adlib.numpy``: a differentiable subset of NumPy.

Use it inside functions you differentiate, exactly as you would use NumPy::

    import adlib.numpy as anp

    def f(x):
        return anp.sum(anp.sin(x) ** 2)

Constants (``pi``, ``e``) and array constructors (``zeros``, ``eye``,
``arange``, ...) are NumPy's own: they create data, not derivatives.
Every other function here is a primitive with forward and reverse rules, or
a composition of primitives.  The rule tables live in one module per family:
``_elementwise``, ``_reductions``, ``_scans`` (cumulative sums, sorting,
differences), ``_shape``, ``_arrange`` (repeating, splitting, padding: gathers),
``_products``, ``linalg`` and ``_decompositions`` (Cholesky, eigen, SVD).
``_catalog`` lists them all for the API page.
"""
from __future__ import annotations

import numpy as _np
from numpy import (  # noqa: F401  (constants and constructors create data)
    arange, e, empty, eye, float32, float64, full, identity, inf,
    nan, newaxis, ones, pi, zeros, ndarray, tril_indices, triu_indices,
)

from adlib.engine import _primal, shape_of
from adlib.numpy._elementwise import (  # noqa: F401
    abs, absolute, add, angle, arccos, arccosh, arcsin, arcsinh, arctan, arctanh, ceil, clip,
    conj, conjugate, cos, cosh, deg2rad, degrees, divide, equal, exp, exp2, expm1, fabs,
    floor, fmax, fmin, greater, greater_equal, imag, isfinite, isinf, isnan, less,
    less_equal, log, log10, log1p, log2, logaddexp, logaddexp2, maximum, minimum, mod,
    multiply, nan_to_num, negative, not_equal, power, rad2deg, radians, real, real_if_close,
    reciprocal, remainder, rint, round, sign, sin, sinc, sinh, sqrt, square, subtract, tan,
    tanh, where, _less, _less_equal, _greater, _greater_equal, _equal, _not_equal,
)
from adlib.numpy._reductions import (  # noqa: F401
    amax, amin, max, mean, min, prod, std, sum, var,
)
from adlib.numpy._scans import cumsum, diff, gradient, partition, sort  # noqa: F401
from adlib.numpy._shape import (  # noqa: F401
    atleast_2d, broadcast_to, concatenate, diag, diagonal, expand_dims, flip, hstack,
    moveaxis, ravel, reshape, squeeze, stack, swapaxes, trace, transpose, tril, triu,
    vstack, _getitem_public as _getitem,
)
from adlib.numpy._arrange import (  # noqa: F401
    append, array_split, atleast_1d, atleast_3d, c_, column_stack, cross, dsplit, fliplr,
    flipud, hsplit, kron, linspace, pad, r_, repeat, roll, rollaxis, rot90, row_stack,
    select, split, tile, vsplit,
)
from adlib.numpy._products import dot, einsum, inner, matmul, outer, tensordot, vdot  # noqa: F401
from adlib.numpy import linalg  # noqa: F401,E402
from adlib.numpy import _boxes  # noqa: E402  (the array protocol of traced values)

_boxes.install()

true_divide = divide


def shape(x) -> tuple:
    """Shape of an array or of a value being differentiated."""
    return shape_of(x)


def ndim(x) -> int:
    """Number of dimensions."""
    return len(shape_of(x))


def size(x) -> int:
    """Number of elements."""
    return int(_np.prod(shape_of(x)))


def zeros_like(x, dtype=None):
    """Zeros with the shape of ``x`` (plain data, not differentiable)."""
    return _np.zeros(shape_of(x), dtype=dtype or _np.result_type(_primal(x)))


def ones_like(x, dtype=None):
    """Ones with the shape of ``x`` (plain data, not differentiable)."""
    return _np.ones(shape_of(x), dtype=dtype or _np.result_type(_primal(x)))


def array(obj, dtype=None):
    """``np.array`` that also accepts (nested) lists of differentiated values."""
    if _contains_box(obj):
        if isinstance(obj, (list, tuple)):
            return stack([array(o) for o in obj])
        return obj      # already an array being differentiated: keep its derivative
    return _np.array(obj, dtype=dtype)


asarray = array


def _contains_box(obj) -> bool:
    from adlib.engine import Box
    if isinstance(obj, Box):
        return True
    if isinstance(obj, (list, tuple)):
        return any(_contains_box(o) for o in obj)
    return False


def argmax(x, axis=None):
    """Index of the maximum (not differentiable)."""
    return _np.argmax(_primal(x), axis=axis)


def argmin(x, axis=None):
    """Index of the minimum (not differentiable)."""
    return _np.argmin(_primal(x), axis=axis)


def argsort(x, axis=-1):
    """Indices that sort ``x`` (not differentiable)."""
    return _np.argsort(_primal(x), axis=axis)


def allclose(a, b, rtol=1e-05, atol=1e-08):
    """``np.allclose`` on the primal values."""
    return _np.allclose(_primal(a), _primal(b), rtol=rtol, atol=atol)
