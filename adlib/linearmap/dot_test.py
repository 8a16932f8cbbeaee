"""The dot-product test: one implementation for linear maps and for pullbacks.

:func:`dot_product_identity` evaluates both sides of
:math:`\\langle w, A x\\rangle_{\\text{out}} = \\langle A^\\dagger w, x\\rangle_{\\text{in}}`
and judges their agreement. :func:`dot_product_test` uses it on a
:class:`~adlib.linearmap.LinearMap` with exact actions; :func:`adlib.testing.check_vjp`
uses it on a pullback, with ``A x`` from central finite differences and the error
of those finite differences passed as ``noise``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from adlib.errors import CheckFailure, ShapeError, UsageError

from adlib.linearmap._spaces import Tree, build, default_name, describe
from adlib.linearmap.inner import EuclideanInner, InnerProduct, euclidean
from adlib.linearmap.maps import LinearMap

__all__ = ["DotProductResult", "dot_product_identity", "dot_product_test"]


@dataclass(frozen=True)
class DotProductResult:
    """The outcome of a dot-product test: both sides of the identity and their mismatch."""

    #: Name of the linear map (or function) tested.
    name: str
    #: ``<w, A x>``, the inner product in the output space.
    lhs: float
    #: ``<A† w, x>``, the inner product in the input space.
    rhs: float
    #: ``max(|lhs - rhs| - noise, 0) / max(|lhs|, |rhs|)``: the mismatch not
    #: explained by the known error of ``A x``, relative to the larger side. (The
    #: denominator is never below ``1e-4 |w| |A x|``, so that rounding errors
    #: cannot raise a false alarm when both values happen to be nearly zero.)
    rel_error: float
    #: The tolerance the test used.
    rtol: float
    #: Known absolute error of ``lhs`` (0 for exact actions; the estimated
    #: finite-difference error in :func:`adlib.testing.check_vjp`).
    noise: float = 0.0

    @property
    def passed(self) -> bool:
        """Whether ``rel_error <= rtol``."""
        return self.rel_error <= self.rtol

    @property
    def error(self) -> float:
        """``|lhs - rhs|``."""
        return abs(self.lhs - self.rhs)

    def __repr__(self) -> str:
        failure = "" if self.passed else f"rel_error={self.rel_error:.2e}, "
        return (
            f"DotProductResult({self.name!r}, lhs={self.lhs:.8g}, rhs={self.rhs:.8g}, "
            f"{failure}passed={self.passed})"
        )


def dot_product_identity(
    w: Tree,
    Ax: Tree,
    Atw: Tree,
    x: Tree,
    *,
    inner: InnerProduct | None = None,
    inner_out: InnerProduct | None = None,
    rtol: float = 1e-10,
    noise: float = 0.0,
    name: str = "",
) -> DotProductResult:
    """Compare ``<w, A x>_out`` with ``<A† w, x>_in`` for given vectors.

    Parameters
    ----------
    w, Ax
        A vector of the output space and ``A x``.
    Atw, x
        The claimed ``A† w`` and a vector of the input space.
    inner, inner_out
        Inner products of the input and output spaces (default: Euclidean;
        ``inner_out`` defaults to ``inner``).
    rtol
        Largest accepted relative mismatch.
    noise
        Known absolute error of ``<w, A x>`` (e.g. from finite differences);
        a mismatch up to ``noise`` is not counted.
    name
        Recorded in the result.

    Returns
    -------
    DotProductResult
        With ``rel_error = max(|lhs - rhs| - noise, 0) / scale``, where
        ``scale = max(|lhs|, |rhs|, 1e-4 |w| |A x|)``: the tolerance follows
        the size of the two numbers compared, not a Cauchy-Schwarz bound on
        them (which grows with the dimension while one wrong entry does not).
    """
    inner = euclidean if inner is None else inner
    inner_out = inner if inner_out is None else inner_out
    lhs = inner_out(w, Ax)
    rhs = inner(Atw, x)
    # Relative to the larger value; the floor keeps rounding errors from raising a
    # false alarm in the (unlikely) case that both values are nearly zero.
    scale = max(abs(lhs), abs(rhs), 1e-4 * inner_out.norm(w) * inner_out.norm(Ax))
    excess = max(abs(lhs - rhs) - noise, 0.0)
    rel_error = excess / scale if scale > 0 else (0.0 if excess == 0 else math.inf)
    return DotProductResult(name, lhs, rhs, rel_error, rtol, noise)


def dot_product_test(
    linear_map: LinearMap,
    *,
    adjoint: Optional[Callable[[Tree], Tree]] = None,
    inner: Optional[InnerProduct] = None,
    inner_out: Optional[InnerProduct] = None,
    seed: int = 0,
    rtol: float = 1e-10,
    raise_on_failure: bool = True,
) -> DotProductResult:
    """Check ``<w, A x>_out == <A† w, x>_in`` for random general ``x`` and ``w``.

    ``x`` and ``w`` are standard normal draws (every array of a tuple too) from
    ``numpy.random.default_rng(seed)``: no symmetry or other structure that
    could hide a wrong adjoint. The two sides are compared by
    :func:`adlib.linearmap.dot_product_identity`, the same comparison
    :func:`adlib.testing.check_vjp` makes for a pullback.

    Parameters
    ----------
    linear_map : LinearMap
        The map ``A``.
    adjoint : LinearMap or callable, optional
        The adjoint ``w -> A† w`` to check. Default: ``linear_map.adjoint()``,
        the Euclidean adjoint the map was built with.
    inner : InnerProduct, optional
        Inner product on the input space (default: :data:`euclidean`).
    inner_out : InnerProduct, optional
        Inner product on the output space (default: the same as ``inner``).
    seed : int
        Seed of the random draws.
    rtol : float
        Largest accepted relative error (see :class:`DotProductResult`).
    raise_on_failure : bool
        Raise an AssertionError when the test fails (default); otherwise just
        return the result.

    Returns
    -------
    DotProductResult

    Raises
    ------
    adlib.CheckFailure
        An ``AssertionError``: if the identity fails and ``raise_on_failure`` is true; the message
        names the map and gives both values.
    """
    if not isinstance(linear_map, LinearMap):
        raise UsageError(
            f"dot_product_test: expected a LinearMap, got {type(linear_map).__name__}. "
            f"Wrap the function with LinearMap(action, adjoint_action, example_in=...)."
        )
    inner = euclidean if inner is None else inner
    inner_out = inner if inner_out is None else inner_out
    if adjoint is None:
        adjoint_map = linear_map.adjoint()
    elif isinstance(adjoint, LinearMap):
        if adjoint.in_spec != linear_map.out_spec or adjoint.out_spec != linear_map.in_spec:
            raise ShapeError(
                f"dot_product_test: the adjoint '{adjoint.name}' maps "
                f"{describe(adjoint.in_spec)} -> {describe(adjoint.out_spec)}, but the "
                f"adjoint of '{linear_map.name}' must map {describe(linear_map.out_spec)} -> "
                f"{describe(linear_map.in_spec)}."
            )
        adjoint_map = adjoint
    else:
        adjoint_map = LinearMap._make(
            adjoint, None, linear_map.out_spec, linear_map.in_spec,
            f"{default_name(adjoint)} (adjoint of {linear_map.name})",
        )

    rng = np.random.default_rng(seed)
    x = build(linear_map.in_spec, rng.standard_normal)
    w = build(linear_map.out_spec, rng.standard_normal)
    Ax = linear_map(x)
    Atw = adjoint_map(w)
    result = dot_product_identity(w, Ax, Atw, x, inner=inner, inner_out=inner_out,
                                  rtol=rtol, name=linear_map.name)
    lhs, rhs, rel_error = result.lhs, result.rhs, result.rel_error

    if raise_on_failure and not result.passed:
        spaces = inner.name if inner is inner_out else f"{inner.name} -> {inner_out.name}"
        message = (
            f"dot-product test failed for LinearMap '{linear_map.name}':\n"
            f"  <w, A x>  = {lhs:.12g}\n"
            f"  <A* w, x> = {rhs:.12g}  (A* = the adjoint)\n"
            f"  relative error {rel_error:.3e} > rtol {rtol:.1e} "
            f"(inner products: {spaces}; seed {seed}).\n"
            f"The adjoint does not match the action."
        )
        if adjoint is None and not (
            isinstance(inner, EuclideanInner) and isinstance(inner_out, EuclideanInner)
        ):
            message += (
                " The default adjoint is the Euclidean one; for the adjoint under these "
                "inner products pass adjoint=linear_map.adjoint(inner, inner_out)."
            )
        raise CheckFailure(message)
    return result
