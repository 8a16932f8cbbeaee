"""``linearize``: a function at a point as a LinearMap whose adjoint is the pullback."""
from __future__ import annotations

from typing import Callable

import numpy as np

from adlib.errors import UsageError

from adlib.linearmap._spaces import Tree, build, default_name, space_of
from adlib.linearmap.maps import LinearMap

__all__ = ["linearize"]


def linearize(f: Callable, *primals: Tree) -> tuple:
    """The pushforward of ``f`` at ``primals`` as a LinearMap whose adjoint is the pullback.

    Parameters
    ----------
    f : callable
        A function written with :mod:`adlib.numpy`.
    *primals : array, or tuple or dict of arrays
        The point of linearization.

    Returns
    -------
    primal_out : array, or tuple or dict of arrays
        ``f(*primals)``.
    pushforward : LinearMap
        ``x_dot -> ∂f(x) x_dot``, computed with :func:`adlib.jvp` (each
        application re-runs ``f`` in forward mode). Its input is the tangent of
        the single primal, or a tuple with one tangent per primal. Its adjoint
        is the pullback ``y_bar -> ∂f(x)^T y_bar`` from :func:`adlib.vjp`,
        recorded once here and reused for every application.

    Examples
    --------
    >>> import numpy as np, adlib, adlib.numpy as anp
    >>> x = np.array([0.5, -1.0])
    >>> def f(x):
    ...     return anp.sin(x) * x
    >>> y, df = linearize(f, x)
    >>> y_bar = np.array([1.0, 2.0])
    >>> bool(np.allclose(df.adjoint()(y_bar), adlib.vjp(f, x)[1](y_bar)[0]))
    True
    """
    from adlib.api import jvp, vjp  # imported here: the core imports this package

    if not primals:
        raise UsageError("linearize: pass at least one primal value, as in linearize(f, x).")
    single = len(primals) == 1
    primal_out, vjp_fn = vjp(f, *primals)
    out_spec = space_of(primal_out)
    in_spec = space_of(primals[0]) if single else space_of(tuple(primals))

    def pushforward(tangent):
        tangents = (tangent,) if single else tuple(tangent)
        return jvp(f, primals, tangents)[1]

    def pullback(cotangent):
        cotangents = tuple(vjp_fn(cotangent))
        cotangents = tuple(
            build(space_of(p), np.zeros) if c is None else c for c, p in zip(cotangents, primals)
        )
        return cotangents[0] if single else cotangents

    name = f"linearize({default_name(f)})"
    return primal_out, LinearMap._make(pushforward, pullback, in_spec, out_spec, name)
