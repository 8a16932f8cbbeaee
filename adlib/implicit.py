"""Implicit differentiation: derivatives of a solver's answer, not of its iterations.

A solver returns the ``x`` with ``F(x, θ) = 0``.  The implicit function theorem
gives the derivatives of that ``x`` without looking inside the solver:

* pushforward (JVP): solve :math:`\\partial_x F\\, \\dot x = -\\partial_\\theta F\\, \\dot\\theta`;
* pullback (VJP): solve :math:`\\partial_x F^T u = \\bar x`, then
  :math:`\\bar\\theta = -\\partial_\\theta F^T u`.

Both need only the residual ``F`` (written with :mod:`adlib.numpy`, so adlib
gets :math:`\\partial_\\theta F\\,\\dot\\theta` and :math:`\\partial_\\theta F^T u`
from its own JVP and VJP) and one linear solve with :math:`\\partial_x F`:

* ``linear_solver="dense"`` builds :math:`\\partial_x F` with :func:`adlib.jacfwd`
  and solves with ``adlib.numpy.linalg.solve``.  Per derivative that costs
  ``x.size`` JVPs of ``F``, an SVD of the matrix (the singularity check) and an
  LU factorization: :math:`O(N^2)` memory and :math:`O(N^3)` time for ``N =
  x.size``, whatever factorization the solver itself computed.  Meant for small
  problems; the rules are written with adlib operations, so they can be
  differentiated again (higher order).  When the solver already holds a
  factorization of :math:`\\partial_x F`, a hand-written ``custom_vjp`` that keeps
  it as a residual is much cheaper (Part 5, the ridge chapter).
* ``"gmres"`` / ``"cg"`` never form the matrix: SciPy's Krylov solvers receive a
  ``LinearOperator`` whose matvec is one JVP (or one VJP, for the transpose) of
  ``F``.  First derivatives only.  ``"gmres"`` restarts every ``min(N, 200)``
  iterations, so its Krylov basis takes up to ``200 N`` numbers; pass a callable
  with a smaller restart for :math:`O(N)` memory.  ``"cg"`` needs a symmetric positive definite
  :math:`\\partial_x F` (e.g. ``F`` the gradient of a strictly convex objective).
* a callable ``linear_solver(matvec, b) -> x`` is used the same way.

Usage::

    @implicit_diff(lambda x, a: a * x**3 - x - 2)
    def root(a):
        ...                          # any solver; plain NumPy is fine
        return x

    ad.grad(root)(1.0)               # reverse mode: one adjoint solve
    ad.jvp(root, (1.0,), (1.0,))     # forward mode: one tangent solve

:func:`fixed_point_diff` does the same for a solver of ``x = T(x, θ)``.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np
import scipy.sparse.linalg as spla

from adlib import tree
from adlib.api import jacfwd, jvp, vjp
from adlib.custom import BothModes, has_box, top_level
from adlib.engine import _primal, shape_of
from adlib.errors import (AdlibError, ShapeError, SingularMatrixError, SolverError,
                          TracingError, UnsupportedError)
from adlib import numpy as anp

__all__ = ["implicit_diff", "fixed_point_diff", "ImplicitFunction",
           "ImplicitDiffError", "NotConvergedError", "SingularJacobianError"]


# ---------------------------------------------------------------- errors ----
class ImplicitDiffError(AdlibError):
    """Base class of the errors raised by implicit differentiation."""


class NotConvergedError(ImplicitDiffError, SolverError):
    """The solver's answer is not a root, or a linear solve did not converge."""


class SingularJacobianError(ImplicitDiffError, SingularMatrixError):
    """:math:`\\partial_x F` is singular: ``x`` is not a differentiable function of ``θ``."""


# ------------------------------------------------------- linear solves ----
def _shape_str(s) -> str:
    return "(" + ", ".join(map(str, s)) + (",)" if len(s) == 1 else ")")


def _dense_jacobian(kind, name, residual, x, theta, cond_limit):
    """:math:`\\partial_x F` as an (N, N) matrix (adlib values), after a singularity check."""
    n = int(np.prod(shape_of(x)))
    J = anp.reshape(jacfwd(lambda x_: residual(x_, *theta))(x), (n, n))
    Jp = np.asarray(_primal(J))
    sv = np.linalg.svd(Jp, compute_uv=False) if np.all(np.isfinite(Jp)) else np.array([np.nan])
    smax, smin = float(sv[0]), float(sv[-1])
    # singular to working precision: smallest singular value below 1/cond_limit of the
    # largest one (or of 1, when every singular value is tiny)
    limit = max(smax, 1.0) / cond_limit
    if not smin > limit:
        raise SingularJacobianError(
            f"{kind}({name}): the Jacobian dF/dx of the residual at the solution "
            f"({n}x{n}) is singular or nearly so: its smallest singular value is {smin:.1e} "
            f"(largest {smax:.1e}), below max(largest, 1)/cond_limit = {limit:.0e}. Then the "
            f"solution is not a locally unique, differentiable "
            f"function of the parameters (a fold, a bifurcation or a continuum of roots), "
            f"and the implicit-function rule does not apply. Check that the residual has an "
            f"isolated root there, or reformulate the problem.")
    return J


def _krylov(method: str):
    def solve(matvec, b):
        n = b.size
        op = spla.LinearOperator((n, n), matvec=matvec, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if method == "gmres":
                x, info = spla.gmres(op, b, rtol=1e-12, atol=0.0, restart=min(n, 200),
                                     maxiter=max(10, 20 * n // min(n, 200)))
            else:
                x, info = spla.cg(op, b, rtol=1e-12, atol=0.0, maxiter=10 * n + 100)
        if info != 0 or not np.all(np.isfinite(x)):
            raise NotConvergedError(
                f"the {method.upper()} solve with dF/dx did not converge (SciPy info={info}). "
                f"dF/dx may be singular or ill-conditioned"
                + (", or not symmetric positive definite, which CG needs; use "
                   "linear_solver='gmres'" if method == "cg" else "")
                + "; or use linear_solver='dense' for a small problem.")
        return x
    solve.__name__ = method
    return solve


# ---------------------------------------------------- implicit function ----
class ImplicitFunction:
    """A solver of ``F(x, θ) = 0`` with implicit-function-theorem rules in both modes.

    Create it with :func:`implicit_diff` or :func:`fixed_point_diff`.  Call it
    like the solver: positional arguments are the parameters ``θ`` (arrays,
    floats or pytrees of them) and are passed to the residual as well; keyword
    arguments (initial guesses, tolerances) go to the solver only and are not
    differentiated.
    """

    def __init__(self, solver: Callable, residual: Callable, *, linear_solver="dense",
                 residual_tol: float | None = 1e-6, cond_limit: float = 1e12,
                 kind: str = "implicit_diff"):
        if not (linear_solver in ("dense", "gmres", "cg") or callable(linear_solver)):
            raise ShapeError(f"{kind}: linear_solver={linear_solver!r}; use 'dense', 'gmres', "
                             f"'cg' or a function (matvec, b) -> x")
        functools.update_wrapper(self, solver)
        self.solver, self.residual = solver, residual
        self.linear_solver, self.residual_tol, self.cond_limit = linear_solver, residual_tol, cond_limit
        self.kind = kind

    @property
    def name(self) -> str:
        return getattr(self.solver, "__name__", "solver")

    def __repr__(self) -> str:
        ls = self.linear_solver if isinstance(self.linear_solver, str) else \
            getattr(self.linear_solver, "__name__", "custom")
        return f"<{self.kind} {self.name} (linear_solver={ls})>"

    # -- the primal solve ------------------------------------------------
    def _solve(self, theta, static):
        x = self.solver(*theta, **static)
        if has_box(x):
            raise TracingError(f"{self.kind}({self.name}): the solver returned a value being "
                               f"differentiated; the solver must work on plain values.")
        if isinstance(x, (tuple, list, dict)):
            raise TracingError(f"{self.kind}({self.name}): the solver returned a "
                            f"{type(x).__name__}; it must return one array (stack several "
                            f"unknowns into one vector)")
        x = np.asarray(x, dtype=np.float64) if np.ndim(x) else np.float64(x)
        F = np.asarray(_primal(self.residual(x, *theta)), dtype=np.float64)
        if F.shape != np.shape(x):
            raise ShapeError(f"{self.kind}({self.name}): the residual returned shape "
                             f"{_shape_str(F.shape)} for x of shape {_shape_str(np.shape(x))}; "
                             f"F(x, theta) must have the shape of x (as many equations as "
                             f"unknowns)")
        if self.residual_tol is not None:
            err = float(np.max(np.abs(F), initial=0.0))
            if not err <= self.residual_tol:
                raise NotConvergedError(
                    f"{self.kind}({self.name}): the solver returned x with max|F(x, theta)| = "
                    f"{err:.3e}, above residual_tol = {self.residual_tol:.0e}. The implicit-"
                    f"function rule differentiates the exact root, so it needs a converged "
                    f"solve: run the solver longer (more iterations, a smaller tolerance), or "
                    f"pass a larger residual_tol if this accuracy is what you need.")
        return x

    # -- linear solves with dF/dx and its transpose ------------------------
    def _solve_tangent(self, x, theta, rhs, transpose: bool):
        """Solve (dF/dx) v = rhs, or (dF/dx)^T v = rhs; x, theta may carry lower levels."""
        shape = shape_of(x)
        if self.linear_solver == "dense":
            J = _dense_jacobian(self.kind, self.name, self.residual, x, theta, self.cond_limit)
            A = anp.transpose(J) if transpose else J
            return anp.reshape(anp.linalg.solve(A, anp.reshape(rhs, (-1,))), shape)
        if has_box((x, theta, rhs)):
            raise UnsupportedError(
                f"{self.kind}({self.name}): linear_solver={self.linear_solver!r} gives first "
                f"derivatives only; use linear_solver='dense' for higher-order derivatives.")
        solve = _krylov(self.linear_solver) if isinstance(self.linear_solver, str) \
            else self.linear_solver
        x0 = np.asarray(x, dtype=np.float64)

        def F_x(x_):
            return self.residual(x_, *theta)
        if transpose:
            _, pull = vjp(F_x, x0)            # trace once, pull back many times

            def matvec(v):
                return np.ravel(pull(np.reshape(v, shape))[0])
        else:
            def matvec(v):
                return np.ravel(jvp(F_x, (x0,), (np.reshape(v, shape),))[1])
        out = solve(matvec, np.ravel(np.asarray(rhs, dtype=np.float64)))
        return np.reshape(np.asarray(out, dtype=np.float64), shape)

    # -- the call -----------------------------------------------------------
    def __call__(self, *theta, **static):
        if has_box(static):
            raise TracingError(
                f"{self.kind}({self.name}): a keyword argument is being differentiated. "
                f"Keyword arguments are static (initial guesses, tolerances); pass "
                f"parameters positionally.")
        if not theta:
            raise TracingError(f"{self.kind}({self.name}): call it with the parameters theta "
                            f"as positional arguments")
        _, kind = top_level(theta)
        if kind is None:
            return self._solve(theta, static)
        return self._rules(static)(*theta)

    def _rules(self, static):
        this = self
        residual = self.residual

        def fun(*theta):
            return this(*theta, **static)

        def implicit_jvp(primals, tangents):
            x = this(*primals, **static)
            _, Fdot = jvp(lambda *th: residual(x, *th), primals, tangents)
            return x, -this._solve_tangent(x, primals, Fdot, transpose=False)

        def implicit_fwd(*theta):
            x = this(*theta, **static)
            return x, (x, theta)

        def implicit_bwd(res, xbar):
            x, theta = res
            u = this._solve_tangent(x, theta, xbar, transpose=True)
            _, pull = vjp(lambda *th: residual(x, *th), *theta)
            return tuple(tree.tree_map(lambda t: -t, c) for c in pull(u))

        implicit_jvp.__name__ = f"{self.name}_implicit_jvp"
        implicit_bwd.__name__ = f"{self.name}_implicit_pullback"
        return BothModes(fun, implicit_jvp, implicit_fwd, implicit_bwd, self.name)


def implicit_diff(residual: Callable, *, linear_solver: Any = "dense",
                  residual_tol: float | None = 1e-6,
                  cond_limit: float = 1e12) -> Callable[[Callable], ImplicitFunction]:
    """Decorate a solver of ``F(x, θ) = 0`` with implicit-function-theorem rules.

    Parameters
    ----------
    residual
        ``F(x, *theta) -> array`` with the shape of ``x``, written with
        :mod:`adlib.numpy` (adlib differentiates it with respect to ``x`` and
        ``theta``).
    linear_solver
        ``"dense"`` (default: form :math:`\\partial_x F` by forward mode, any
        order of derivatives), ``"gmres"``, ``"cg"`` (matrix-free, first
        derivatives) or a function ``(matvec, b) -> x``.
    residual_tol
        The solver's answer must satisfy ``max|F(x, θ)| <= residual_tol``, or
        :class:`NotConvergedError` is raised (``None`` switches the check off).
    cond_limit
        Dense mode: :class:`SingularJacobianError` when the smallest singular value
        of :math:`\\partial_x F` is below ``max(largest, 1) / cond_limit`` (a
        condition number above ``cond_limit``, or a Jacobian that is all but zero).

    Returns
    -------
    decorator
        Applied to ``solver(*theta, **static) -> x`` it returns an
        :class:`ImplicitFunction` that works in forward and reverse mode.

    Examples
    --------
    >>> import numpy as np, adlib as ad
    >>> from adlib.implicit import implicit_diff
    >>> @implicit_diff(lambda x, a: a * x**3 - x - 2)
    ... def root(a):
    ...     x = 1.5
    ...     for _ in range(50):
    ...         x -= (a * x**3 - x - 2) / (3 * a * x**2 - 1)
    ...     return x
    >>> x = root(1.0)
    >>> bool(np.isclose(ad.grad(root)(1.0), -x**3 / (3 * x**2 - 1)))
    True
    """
    def decorate(solver: Callable) -> ImplicitFunction:
        return ImplicitFunction(solver, residual, linear_solver=linear_solver,
                                residual_tol=residual_tol, cond_limit=cond_limit)
    return decorate


def fixed_point_diff(T: Callable, *, linear_solver: Any = "dense",
                     residual_tol: float | None = 1e-6,
                     cond_limit: float = 1e12) -> Callable[[Callable], ImplicitFunction]:
    """Decorate a solver of the fixed-point equation ``x = T(x, θ)``.

    The residual is ``F(x, θ) = x − T(x, θ)``, so :math:`\\partial_x F = I - \\partial_x T`;
    it is invertible when ``T`` is a contraction in ``x``.  Parameters as in
    :func:`implicit_diff`; ``T(x, *theta)`` is written with :mod:`adlib.numpy`.
    """
    def fixed_point_residual(x, *theta):
        return x - T(x, *theta)

    def decorate(solver: Callable) -> ImplicitFunction:
        return ImplicitFunction(solver, fixed_point_residual, linear_solver=linear_solver,
                                residual_tol=residual_tol, cond_limit=cond_limit,
                                kind="fixed_point_diff")
    return decorate
