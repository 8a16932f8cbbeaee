"""Reductions (sum, mean, prod, max, min) and their rules."""
from __future__ import annotations

import numpy as np

from adlib.engine import Primitive, defjvp, defvjp, shape_of

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
    from adlib import numpy as anp
    if not keepdims:
        kept = [1 if i in _axes(axis, len(shape)) else n for i, n in enumerate(shape)]
        g = anp.reshape(g, tuple(kept))
    return g


def _spread(g, x, axis, keepdims):
    from adlib import numpy as anp
    return anp.broadcast_to(_restore(g, shape_of(x), axis, keepdims), shape_of(x))


def _count(x, axis):
    shape = shape_of(x)
    return int(np.prod([shape[a] for a in _axes(axis, len(shape))]))


def sum_jvp(t, ans, x, axis=None, keepdims=False):
    return _sum(t, axis=axis, keepdims=keepdims)


def sum_vjp(g, ans, x, axis=None, keepdims=False):
    return _spread(g, x, axis, keepdims)


def prod_jvp(t, ans, x, axis=None, keepdims=False):
    return _sum(t * _restore(ans, shape_of(x), axis, keepdims) / x, axis=axis, keepdims=keepdims)


def prod_vjp(g, ans, x, axis=None, keepdims=False):
    shape = shape_of(x)
    return _restore(g, shape, axis, keepdims) * _restore(ans, shape, axis, keepdims) / x


def _argext_weights(ans, x, axis, keepdims):
    """Where ``x`` attains the max/min, shared equally among ties."""
    from adlib.engine import _primal
    hit = (_primal(x) == _primal(_restore(ans, shape_of(x), axis, keepdims)))
    return hit / np.sum(hit, axis=axis, keepdims=True)


def max_jvp(t, ans, x, axis=None, keepdims=False):
    return _sum(t * _argext_weights(ans, x, axis, keepdims), axis=axis, keepdims=keepdims)


def max_vjp(g, ans, x, axis=None, keepdims=False):
    return _restore(g, shape_of(x), axis, keepdims) * _argext_weights(ans, x, axis, keepdims)


defjvp(_sum, sum_jvp);   defvjp(_sum, sum_vjp)
defjvp(_prod, prod_jvp); defvjp(_prod, prod_vjp)
defjvp(_max, max_jvp);   defvjp(_max, max_vjp)
defjvp(_min, max_jvp);   defvjp(_min, max_vjp)


def _check_axis(name, axis):
    if axis is not None and not isinstance(axis, (int, np.integer, tuple)):
        raise TypeError(f"anp.{name}: axis must be None, an int or a tuple of ints, "
                        f"got {type(axis).__name__}")
    return axis


def sum(x, axis=None, keepdims=False):  # noqa: A001
    """Sum of elements over ``axis`` (all by default)."""
    return _sum(x, axis=_check_axis("sum", axis), keepdims=keepdims)


def prod(x, axis=None, keepdims=False):
    """Product over ``axis``. Its rules divide by ``x``: avoid exact zeros."""
    return _prod(x, axis=_check_axis("prod", axis), keepdims=keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001
    """Maximum over ``axis``; ties share the derivative equally."""
    return _max(x, axis=_check_axis("max", axis), keepdims=keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    """Minimum over ``axis``; ties share the derivative equally."""
    return _min(x, axis=_check_axis("min", axis), keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis``."""
    return sum(x, axis=axis, keepdims=keepdims) * (1.0 / _count(x, axis))


amax, amin = max, min
