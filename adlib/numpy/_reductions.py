"""Reductions (sum, mean, var, std, prod, max, min) and their rules.

``prod``'s rules use the product of the *other* entries, never ``ans / x``,
so they are right at inputs with one or more zeros, to every order (see
:func:`_product_of_others`).
"""
from __future__ import annotations

import numpy as np

from adlib.engine import ANS, Primitive, _primal, defjvp, defvjp, shape_of
from adlib.errors import DTypeError, UnsupportedError

_sum = Primitive(np.sum, "sum")
_prod = Primitive(np.prod, "prod")
_max = Primitive(np.max, "max")
_min = Primitive(np.min, "min")


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axis = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    return tuple(a % ndim for a in axis) if ndim else ()


def _restore(g, shape, axis, keepdims):
    """Reshape a reduced cotangent so it broadcasts against the input's shape."""
    from adlib.numpy._shape import reshape
    if not keepdims:
        kept = [1 if i in _axes(axis, len(shape)) else n for i, n in enumerate(shape)]
        g = reshape(g, tuple(kept))
    return g


def _spread(g, x, axis, keepdims):
    from adlib.numpy._shape import broadcast_to
    return broadcast_to(_restore(g, shape_of(x), axis, keepdims), shape_of(x))


def _count(x, axis):
    shape = shape_of(x)
    return int(np.prod([shape[a] for a in _axes(axis, len(shape))]))


def sum_jvp(t, ans, x, axis=None, keepdims=False):
    return _sum(t, axis=axis, keepdims=keepdims)


def sum_vjp(g, ans, x, axis=None, keepdims=False):
    return _spread(g, x, axis, keepdims)


def _product_of_others(x, axis):
    """Entry i: the product of the entries reduced together with x_i, except x_i.

    Without zeros in ``x`` this is ``prod / x`` (one division).  With zeros,
    the reduced entries are laid out as rows of length n and each row is
    repeated n times with entry i replaced by 1 in copy i, so the product is
    taken without dividing: O(n^2) work, paid only at inputs with zeros.
    Both branches are written with adlib operations, so the derivative of
    this function (the second derivative of ``prod``) follows the same logic.
    """
    from adlib.numpy import _elementwise as elw, _shape as shp
    shape = shape_of(x)
    if np.all(_primal(x) != 0):
        return _restore(_prod(x, axis=axis, keepdims=True), shape, None, True) / x
    axes = _axes(axis, len(shape))
    kept = [i for i in range(len(shape)) if i not in axes]
    n = int(np.prod([shape[a] for a in axes]))
    rows = shp.reshape(shp.transpose(x, tuple(kept + list(axes))),
                       tuple(shape[i] for i in kept) + (n,))
    copies = elw.where(np.eye(n, dtype=bool), 1.0, shp.expand_dims(rows, -2))
    others = _prod(copies, axis=-1)
    others = shp.reshape(others, tuple(shape[i] for i in kept) + tuple(shape[a] for a in axes))
    return shp.transpose(others, tuple(np.argsort(kept + list(axes))))


def prod_jvp(t, ans, x, axis=None, keepdims=False):
    return _sum(t * _product_of_others(x, axis), axis=axis, keepdims=keepdims)


def prod_vjp(g, ans, x, axis=None, keepdims=False):
    return _restore(g, shape_of(x), axis, keepdims) * _product_of_others(x, axis)


def _argext_weights(ans, x, axis, keepdims):
    """Where ``x`` attains the max/min, shared equally among ties."""
    hit = (_primal(x) == _primal(_restore(ans, shape_of(x), axis, keepdims)))
    return hit / np.sum(hit, axis=axis, keepdims=True)


def extremum_jvp(t, ans, x, axis=None, keepdims=False):
    return _sum(t * _argext_weights(ans, x, axis, keepdims), axis=axis, keepdims=keepdims)


def extremum_vjp(g, ans, x, axis=None, keepdims=False):
    return _restore(g, shape_of(x), axis, keepdims) * _argext_weights(ans, x, axis, keepdims)


defjvp(_sum, sum_jvp);        defvjp(_sum, sum_vjp, reads=[()])
defjvp(_prod, prod_jvp);      defvjp(_prod, prod_vjp, reads=[(0,)])
defjvp(_max, extremum_jvp);   defvjp(_max, extremum_vjp, reads=[(0, ANS)])
defjvp(_min, extremum_jvp);   defvjp(_min, extremum_vjp, reads=[(0, ANS)])


def _check_axis(name, axis):
    if axis is not None and not isinstance(axis, (int, np.integer, tuple)):
        raise DTypeError(f"anp.{name}: axis must be None, an int or a tuple of ints, "
                        f"got {type(axis).__name__}")
    return axis


def _check_out(name, out):
    if out is not None:
        raise UnsupportedError(f"anp.{name}: out= writes in place, which adlib cannot "
                               "differentiate; use the returned array")


def _as_array(x):
    """A list or tuple holding traced values becomes one traced array."""
    if isinstance(x, (list, tuple)):
        from adlib.numpy import array
        return array(x)
    return x


def sum(x, axis=None, dtype=None, out=None, keepdims=False):  # noqa: A001
    """Sum of elements over ``axis`` (all by default)."""
    if out is not None:
        _check_out("sum", out)
    if type(x) in (list, tuple):
        x = _as_array(x)
    return _sum(x, axis=_check_axis("sum", axis), keepdims=keepdims)


def prod(x, axis=None, dtype=None, out=None, keepdims=False):
    """Product over ``axis``; its rules are right at zeros, to every order."""
    _check_out("prod", out)
    return _prod(_as_array(x), axis=_check_axis("prod", axis), keepdims=keepdims)


def max(x, axis=None, out=None, keepdims=False):  # noqa: A001
    """Maximum over ``axis``; ties share the derivative equally."""
    _check_out("max", out)
    return _max(_as_array(x), axis=_check_axis("max", axis), keepdims=keepdims)


def min(x, axis=None, out=None, keepdims=False):  # noqa: A001
    """Minimum over ``axis``; ties share the derivative equally."""
    _check_out("min", out)
    return _min(_as_array(x), axis=_check_axis("min", axis), keepdims=keepdims)


def mean(x, axis=None, dtype=None, out=None, keepdims=False):
    """Mean over ``axis``."""
    x = _as_array(x)
    return sum(x, axis=axis, out=out, keepdims=keepdims) * (1.0 / _count(x, axis))


def var(x, axis=None, dtype=None, out=None, ddof: int = 0, keepdims: bool = False):
    """Variance over ``axis``, dividing by ``N - ddof``."""
    x = _as_array(x)
    d = x - mean(x, axis=axis, keepdims=True)
    return sum(d * d, axis=axis, out=out, keepdims=keepdims) * (1.0 / (_count(x, axis) - ddof))


def std(x, axis=None, dtype=None, out=None, ddof: int = 0, keepdims: bool = False):
    """Standard deviation over ``axis``.

    Its derivative is infinite where the entries are equal, except over a
    single entry (``ddof=0``), where ``std`` is identically 0 and so is its
    derivative.
    """
    from adlib.numpy._elementwise import sqrt
    x = _as_array(x)
    v = var(x, axis=axis, out=out, ddof=ddof, keepdims=keepdims)
    return v if _count(x, axis) == 1 and ddof == 0 else sqrt(v)


amax, amin = max, min
