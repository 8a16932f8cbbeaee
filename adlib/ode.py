"""Differentiable solutions of ordinary differential equations: :func:`odeint`.

``odeint(func, y0, t, *args)`` solves :math:`\\dot y = f(y, t, p)`, :math:`y(t_0) = y_0`
with SciPy's adaptive ``solve_ivp`` and returns :math:`y` at every time in ``t``
(JAX's ``jax.experimental.ode.odeint`` convention).  adlib cannot see inside
SciPy, so the solution carries two custom rules:

* **pushforward: forward sensitivities.**  :math:`s = \\dot y` solves
  :math:`\\dot s = \\partial_y f\\, s + \\partial_p f\\, \\dot p`,
  :math:`s(t_0) = \\dot y_0 - f(y_0, t_0)\\, \\dot t_0`, integrated next to
  :math:`y`; the output tangent at :math:`t_i` is
  :math:`s(t_i) + f(y(t_i), t_i)\\, \\dot t_i`.
* **pullback: the adjoint ODE.**  With the book's sign convention the adjoint
  starts at :math:`\\lambda(t_N) = \\bar y_N` and solves
  :math:`\\dot\\lambda = -\\partial_y f^T \\lambda` backwards, jumping by
  :math:`\\bar y_i` at each earlier output time; along the way
  :math:`\\bar p = \\int \\partial_p f^T \\lambda\\, dt`.  At the end
  :math:`\\bar y_0 = \\lambda(t_0) + \\bar y_0^{\\text{out}}`,
  :math:`\\bar t_i = \\bar y_i^T f(y(t_i), t_i)` for :math:`i \\ge 1` and
  :math:`\\bar t_0 = -\\lambda(t_0)^T f(y_0, t_0)`.

The products :math:`\\partial_y f\\, s`, :math:`\\partial_p f\\, \\dot p`,
:math:`\\partial_y f^T\\lambda` and :math:`\\partial_p f^T\\lambda` come from
adlib's own :func:`~adlib.jvp` and :func:`~adlib.vjp` of ``func``.

**Storage.**  The adjoint needs :math:`y(t)` while it runs backwards.  The
forward pass keeps checkpoints: :math:`y` at the solver's accepted steps and
their midpoints (and at the output times); between two checkpoints the adjoint
uses the cubic Hermite interpolant built from :math:`y` and :math:`f(y)` at
both ends.  Nothing is integrated backwards in :math:`y` (a "back-solve"),
which would blow up on dissipative systems.

**Any order.**  Both rules call :func:`odeint` again, on an augmented system
(state and sensitivities; adjoint and parameter cotangents), and the
checkpoints are themselves outputs of :func:`odeint`.  So differentiating a
rule differentiates another :func:`odeint`: ``jacfwd``, ``jacrev`` and
``hessian`` work, in any combination of modes.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from scipy.integrate import solve_ivp

from adlib import numpy as anp
from adlib import tree
from adlib.api import jvp, vjp
from adlib.engine import _BOX_TYPES, _primal, shape_of
from adlib.errors import (AdlibError, ShapeError, SolverError, UnsupportedError,
                          UsageError)
from adlib.custom import BothModes, has_box

__all__ = ["odeint", "TimeGridError"]

_METHODS = ("RK45", "DOP853", "RK23", "Radau", "BDF", "LSODA")
_SUBDIV = 2          # checkpoints per accepted solver step (the step's end and midpoint)


class TimeGridError(AdlibError, ValueError):
    """The output times ``t`` of :func:`odeint` are not a strictly monotone 1-D grid."""


def _shape_str(s: tuple) -> str:
    return "(" + ", ".join(map(str, s)) + (",)" if len(s) == 1 else ")")


def _is_param(leaf) -> bool:
    """Floating-point leaves of ``args`` are differentiated; the rest is static."""
    if type(leaf) in _BOX_TYPES:
        return True
    try:
        return np.issubdtype(np.result_type(leaf), np.inexact)
    except TypeError:
        return False


# ------------------------------------------------------------- the entry ----
def odeint(func: Callable, y0: Any, t: Any, *args: Any, rtol: float = 1.4e-8,
           atol: float = 1.4e-8, method: str = "RK45",
           max_evals: int | None = 1_000_000) -> Any:
    """Solve :math:`\\dot y = f(y, t, *args)` and return :math:`y` at the times ``t``.

    Differentiable with respect to ``y0``, every time in ``t`` and every
    floating-point leaf of ``args``, in forward and reverse mode, to any order.

    Parameters
    ----------
    func
        ``func(y, t, *args) -> dy/dt`` with the shape of ``y``, written with
        :mod:`adlib.numpy` (adlib differentiates it with respect to ``y`` and
        ``args``).
    y0
        Initial state at ``t[0]``: a float or an array of any shape.
    t
        1-D array of output times, strictly increasing or strictly decreasing;
        ``t[0]`` is the initial time.
    *args
        Parameters passed to ``func`` (arrays, floats or pytrees of them).
        Integer and other non-float leaves are passed through, not
        differentiated.
    rtol, atol
        Tolerances of ``solve_ivp``; the derivatives are solved with the same.
        ``atol`` is an absolute error floor: for a solution (or a derivative)
        that decays far below it, such as :math:`e^{-30}`, pass a smaller
        ``atol`` to get relative accuracy.
    method
        A ``solve_ivp`` method: ``"RK45"`` (default), ``"DOP853"``, ``"RK23"``,
        ``"Radau"``, ``"BDF"`` or ``"LSODA"``.
    max_evals
        Give up with :class:`~adlib.errors.SolverError` after this many
        evaluations of ``func`` in one solve (``None``: no limit).  An explicit
        method on a stiff problem takes tiny steps and would otherwise seem to
        hang.

    Returns
    -------
    array
        Shape ``(len(t),) + y0.shape``: row ``i`` is :math:`y(t_i)`.

    Raises
    ------
    TimeGridError
        ``t`` is not 1-D or not strictly monotone.
    ShapeError
        ``func`` returns a value whose shape is not ``y0``'s.
    SolverError
        ``solve_ivp`` fails (step size underflow, e.g. at a blow-up), exceeds
        ``max_evals`` (e.g. a stiff problem with an explicit method) or the
        solution becomes non-finite; the message gives the time where it
        happened.

    Examples
    --------
    >>> import numpy as np, adlib as ad, adlib.numpy as anp
    >>> from adlib.ode import odeint
    >>> decay = lambda y, t, a: -a * y
    >>> ts = np.array([0.0, 1.0])
    >>> g = ad.grad(lambda a: odeint(decay, 1.0, ts, a)[-1])(0.5)
    >>> bool(np.isclose(g, -np.exp(-0.5), rtol=1e-6))
    True
    """
    name = getattr(func, "__name__", None) or type(func).__name__
    if method not in _METHODS:
        raise UnsupportedError(f"odeint({name}): method={method!r} is not a solve_ivp "
                               f"method adlib supports; use one of {', '.join(_METHODS)}")
    y0, t = _as_array(y0), _as_array(t)
    _check_times(name, np.asarray(_primal(t)))
    shape = shape_of(y0)
    n = int(np.prod(shape))
    leaves, args_def = tree.flatten(list(args))
    is_param = [_is_param(leaf) for leaf in leaves]
    params = [leaf for leaf, p in zip(leaves, is_param) if p]
    static = [leaf for leaf, p in zip(leaves, is_param) if not p]

    def flat_func(z, s, *ps):
        it_p, it_s = iter(ps), iter(static)
        full = [next(it_p) if p else next(it_s) for p in is_param]
        dz = func(anp.reshape(z, shape), s, *tree.unflatten(args_def, full))
        if shape_of(dz) != shape:
            raise ShapeError(
                f"odeint({name}): func(y, t, *args) returned shape "
                f"{_shape_str(shape_of(dz))} for y of shape {_shape_str(shape)}; it must "
                f"return dy/dt with the shape of y0. Check the state's layout in func.")
        return anp.reshape(dz, (n,))

    if max_evals is not None and not (isinstance(max_evals, (int, np.integer))
                                      and max_evals > 0):
        raise UsageError(f"odeint({name}): max_evals={max_evals!r}; use a positive "
                         f"integer, or None for no limit")
    solver = _ODE(flat_func, name, rtol, atol, method, max_evals)
    ys = solver(anp.reshape(y0, (n,)), t, *params)
    return anp.reshape(ys, (len(_primal(t)),) + shape)


def _as_array(x):
    """A float array; a list holding values being differentiated is stacked by adlib."""
    if type(x) in _BOX_TYPES:
        return x
    if anp._contains_box(x):
        return anp.array(x)
    return np.asarray(x, dtype=np.float64)


def _check_times(name: str, t: np.ndarray) -> None:
    if t.ndim != 1 or t.size == 0:
        raise TimeGridError(f"odeint({name}): t must be a non-empty 1-D array of times, "
                            f"got shape {_shape_str(t.shape)}")
    if not np.all(np.isfinite(t)):
        raise TimeGridError(f"odeint({name}): t contains non-finite times: {t}")
    if t.size > 1:
        d = np.diff(t)
        direction = np.sign(d[0])
        bad = np.flatnonzero(~(np.sign(d) == direction) | (d == 0))
        if bad.size:
            i = int(bad[0]) + 1
            raise TimeGridError(
                f"odeint({name}): t must be strictly monotone (all increasing or all "
                f"decreasing), but t[{i}] = {t[i]:.6g} follows t[{i - 1}] = "
                f"{t[i - 1]:.6g}. Sort the output times (np.sort) and drop repeats.")


# --------------------------------------------------- the core, both modes ----
class _ODE:
    """``(z0, t, *params) -> z(t)`` for a flat state, with rules in both modes."""

    def __init__(self, f: Callable, name: str, rtol: float, atol: float, method: str,
                 max_evals: int | None):
        self.f, self.name = f, name
        self.rtol, self.atol, self.method = rtol, atol, method
        self.max_evals = max_evals
        self._aug_jvp: _ODE | None = None
        self._adjoint: _ODE | None = None

        def primal(z0, t, *params):
            return self._solve(z0, t, params)[0]

        def sensitivities(primals, tangents):
            return self._jvp_rule(primals, tangents)

        def fwd(z0, t, *params):
            return self._fwd(z0, t, *params)

        def adjoint(res, g):
            return self._bwd(res, g)
        sensitivities.__name__ = f"odeint_{name}_sensitivities"
        adjoint.__name__ = f"odeint_{name}_adjoint"
        self._call = BothModes(primal, sensitivities, fwd, adjoint, f"odeint_{name}")

    def __call__(self, z0, t, *params):
        return self._call(z0, t, *params)

    def _child(self, f: Callable, suffix: str) -> _ODE:
        return _ODE(f, f"{self.name}_{suffix}", self.rtol, self.atol, self.method,
                    self.max_evals)

    # -- the primal: SciPy ------------------------------------------------
    def _solve(self, z0, t, params):
        """Plain solve; returns the states at ``t`` and SciPy's solution object."""
        z0 = np.asarray(z0, dtype=np.float64)
        t = np.asarray(t, dtype=np.float64)
        if t.size == 1:
            return z0[None].copy(), None
        f = self.f

        evals = [0]

        def rhs(s, z):
            evals[0] += 1
            if self.max_evals is not None and evals[0] > self.max_evals:
                raise _TooManyEvals(s)
            return np.asarray(f(z, s, *params), dtype=np.float64)

        try:
            with np.errstate(over="ignore", invalid="ignore"):
                sol = solve_ivp(rhs, (t[0], t[-1]), z0, method=self.method,
                                rtol=self.rtol, atol=self.atol, dense_output=True)
        except _TooManyEvals as stop:
            raise SolverError(
                f"odeint({self.name}): solve_ivp ({self.method}) gave up at t = "
                f"{stop.time:.6g} after max_evals = {self.max_evals} evaluations of func, "
                f"integrating from {t[0]:.6g} to {t[-1]:.6g}. The problem is probably "
                f"stiff (an explicit method must take tiny steps): use method='Radau', "
                f"'BDF' or 'LSODA', or raise max_evals.") from None
        if sol.status != 0:
            raise SolverError(
                f"odeint({self.name}): solve_ivp ({self.method}) failed at t = "
                f"{sol.t[-1]:.6g} while integrating from {t[0]:.6g} to {t[-1]:.6g}: "
                f"{sol.message} The solution may blow up there, or the problem is stiff: "
                f"try method='Radau' or 'BDF', looser tolerances, or a shorter interval.")
        bad = np.flatnonzero(~np.all(np.isfinite(sol.y), axis=0))
        if bad.size:
            raise SolverError(
                f"odeint({self.name}): the solution became non-finite at t = "
                f"{sol.t[bad[0]]:.6g} (integrating from {t[0]:.6g} to {t[-1]:.6g}). "
                f"Check func for overflow or a singularity, or shorten the interval.")
        ys = sol.sol(t).T
        ys[0], ys[-1] = z0, sol.y[:, -1]
        return ys, sol

    # -- pushforward: forward sensitivities ---------------------------------
    def _sensitivity_system(self) -> _ODE:
        if self._aug_jvp is None:
            f = self.f

            def sensitivity_rhs(w, s, *pp):
                m, n = len(pp) // 2, shape_of(w)[0] // 2
                p, dp = pp[:m], pp[m:]

                def f_ys(y, *p_):
                    return f(y, s, *p_)
                dy, ds = jvp(f_ys, (w[:n], *p), (w[n:], *dp))
                return anp.concatenate([dy, ds])
            self._aug_jvp = self._child(sensitivity_rhs, "sensitivities")
        return self._aug_jvp

    def _jvp_rule(self, primals, tangents):
        z0, t, *params = primals
        dz0, dt, *dparams = tangents
        n, N = shape_of(z0)[0], shape_of(t)[0]
        ys = self(z0, t, *params)
        s0 = dz0 - self.f(z0, t[0], *params) * dt[0]
        if N == 1:
            return ys, anp.reshape(dz0, (1, n))
        ws = self._sensitivity_system()(anp.concatenate([z0, s0]), t, *params, *dparams)
        fs = anp.stack([self.f(ys[i], t[i], *params) for i in range(N)])
        return ys, ws[:, n:] + fs * anp.reshape(dt, (N, 1))

    # -- pullback: the adjoint ODE on checkpoints -----------------------------
    def _adjoint_system(self) -> _ODE:
        if self._adjoint is None:
            f = self.f

            def adjoint_rhs(w, s, *pp):
                p, (T, Y, F) = pp[:-3], pp[-3:]
                n = shape_of(Y)[1]
                y = _hermite(s, T, Y, F)

                def f_ys(y_, *p_):
                    return f(y_, s, *p_)
                _, pull = vjp(f_ys, y, *p)
                cts = pull(w[:n])
                return -anp.concatenate([cts[0]] + [anp.ravel(c) for c in cts[1:]])
            self._adjoint = self._child(adjoint_rhs, "adjoint")
        return self._adjoint

    def _fwd(self, z0, t, *params):
        tp = np.asarray(_primal(t), dtype=np.float64)
        if tp.size == 1:
            out = self(z0, t, *params)
            return out, (z0, t, t, out, np.zeros(1, dtype=int), params)
        plain = not has_box((z0, t, params))
        if plain:
            _, sol = self._solve(z0, tp, params)
        else:
            _, sol = self._solve(_primal(z0), tp, [_primal(p) for p in params])
        extra, order, upos = _checkpoint_grid(tp, sol.t)
        if plain:
            T = np.concatenate([tp, extra])[order]
            Y = sol.sol(T).T
            Y[0], Y[-1] = np.asarray(z0, dtype=np.float64), sol.y[:, -1]
        else:
            T = anp.concatenate([t, extra])[order]
            Y = self(z0, T, *params)
        return Y[upos], (z0, t, T, Y, upos, params)

    def _bwd(self, res, g):
        z0, t, T, Y, upos, params = res
        N = shape_of(t)[0]
        n = shape_of(z0)[0]
        sizes = [int(np.prod(shape_of(p))) for p in params]

        def f(y, s):
            return self.f(y, s, *params)
        if N == 1:
            return (g[0], anp.zeros_like(t)) + tuple(anp.zeros_like(p) for p in params)
        F = anp.stack([f(Y[k], T[k]) for k in range(shape_of(T)[0])])
        adjoint = self._adjoint_system()
        lam = g[N - 1]
        pbar = np.zeros(sum(sizes))
        tbar = [None] * N
        for i in range(N - 1, 0, -1):
            if i < N - 1:
                lam = lam + g[i]
            tbar[i] = anp.sum(g[i] * F[upos[i]])
            seg = slice(int(upos[i - 1]), int(upos[i]) + 1)
            w0 = anp.concatenate([lam, np.zeros(sum(sizes))])
            w = adjoint(w0, anp.stack([t[i], t[i - 1]]), *params, T[seg], Y[seg], F[seg])
            lam, pbar = w[-1, :n], pbar + w[-1, n:]
        tbar[0] = -anp.sum(lam * F[0])
        pbars, k = [], 0
        for p, m in zip(params, sizes):
            pbars.append(anp.reshape(pbar[k:k + m], shape_of(p)))
            k += m
        return (lam + g[0], anp.stack(tbar), *pbars)


class _TooManyEvals(SolverError):
    """Raised inside solve_ivp's right-hand side to stop a solve; carries the time."""

    def __init__(self, time: float):
        super().__init__(time)
        self.time = float(time)


def _checkpoint_grid(t: np.ndarray, steps: np.ndarray):
    """Checkpoint times: the output times, the solver's steps and their midpoints.

    Returns ``extra`` (the checkpoints that are not output times), ``order``
    (so that ``concatenate([t, extra])[order]`` is the sorted grid) and ``upos``
    (where the output times sit in that grid).
    """
    sgn = 1.0 if t[-1] > t[0] else -1.0
    pts = [steps[1:-1]]
    for j in range(1, _SUBDIV):
        pts.append(steps[:-1] + (steps[1:] - steps[:-1]) * (j / _SUBDIV))
    extra = np.concatenate(pts)
    span = abs(t[-1] - t[0])
    near = np.min(np.abs(extra[:, None] - t[None, :]), axis=1) <= 1e-9 * span
    extra = np.unique(extra[~near])
    allt = np.concatenate([t, extra])
    order = np.argsort(sgn * allt, kind="stable")
    inv = np.empty_like(order)
    inv[order] = np.arange(order.size)
    return extra, order, inv[:t.size]


def _hermite(s, T, Y, F):
    """Cubic Hermite interpolant of checkpoints ``(T, Y)`` with slopes ``F``, at ``s``."""
    Tp = np.asarray(_primal(T))
    sgn = 1.0 if Tp[-1] > Tp[0] else -1.0
    k = int(np.searchsorted(sgn * Tp, sgn * float(_primal(s)), side="right")) - 1
    k = min(max(k, 0), Tp.size - 2)
    h = T[k + 1] - T[k]
    th = (s - T[k]) / h
    h00 = (1 + 2 * th) * (1 - th) ** 2
    h10 = th * (1 - th) ** 2
    h01 = th ** 2 * (3 - 2 * th)
    h11 = th ** 2 * (th - 1)
    return h00 * Y[k] + (h10 * h) * F[k] + h01 * Y[k + 1] + (h11 * h) * F[k + 1]
