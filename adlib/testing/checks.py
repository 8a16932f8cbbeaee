"""``check_jvp``, ``check_vjp`` and ``check_grads``: rules against finite differences.

How :func:`check_vjp` stays sharp at any size
---------------------------------------------
The dot-product test compares two numbers, ⟨ȳ, J ẋ⟩ (by central finite
differences, so no rule of ``f`` is used) and ⟨x̄, ẋ⟩ with x̄ = Jᵀȳ from the
pullback. A wrong pullback shifts the second number by the size of its error,
whatever the dimension N: one entry wrong by 50 % shifts it by about half of one
term. A tolerance taken from a Cauchy-Schwarz bound (‖ȳ‖‖Jẋ‖ + ‖x̄‖‖ẋ‖, which
grows like N) would swallow such an error once N is large. So the tolerance is
built from the errors actually incurred instead:

* the finite-difference error, *measured*: ``J ẋ`` is computed with steps ε and
  2ε; their difference D estimates the error of the first (it is three times
  the truncation error plus rounding of the same size). The error it causes in
  ⟨ȳ, J ẋ⟩ is a sum of N terms ȳᵢDᵢ of random sign, whose size is their
  root-sum-square; 100 times that is allowed, plus 100 times the same sum for
  the resolution of the quotient, u(|f(x+εẋ)ᵢ| + |f(x−εẋ)ᵢ|)/2ε (a difference
  quotient that is exactly 0 cannot tell 0 from anything below it);
* rounding in the two sums: 4u√N times the sum of the magnitudes of the terms
  (u the unit round-off);
* on top, a relative tolerance ``rtol`` (default 1e-8) of the larger of the two
  numbers, which are themselves sums of random-sign terms and grow like √N, not N.

With general random ẋ and ȳ, a wrong entry of x̄ shifts the identity by its error
times the random weight ẋᵢ, and is detected unless that shift is tiny. Measured for
x ↦ sin(x)eˣ with one entry of the pullback wrong by 1 % at N = 10⁴, over 300
random entries and seeds: 2 passed, both entries where the derivative itself was
small (shifts of 3e-6 and 4e-8); with 50 % at N = 10⁵, 0 of 100; correct rules at
N = 10⁵ raised no false alarm in 300 checks.
The comparison itself is :func:`adlib.linearmap.dot_product_identity`, the same
code that checks the adjoint of a :class:`~adlib.linearmap.LinearMap`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from adlib import tree
from adlib.api import jvp, vjp
from adlib.engine import _primal, shape_of
from adlib.errors import CheckFailure, DTypeError, UsageError
from adlib.linearmap.dot_test import dot_product_identity
from adlib.testing import domains as _domains

__all__ = ["check_jvp", "check_vjp", "check_grads", "CheckResult"]

#: Multiple of the measured finite-difference error that check_vjp tolerates.
FD_SAFETY = 100.0


@dataclass(frozen=True, repr=False)
class CheckResult:
    """Outcome of a passed check; the numbers are attributes, not in the repr."""

    #: ``"check_jvp"`` or ``"check_vjp"``.
    kind: str
    #: Name of the function checked.
    name: str
    #: ``check_jvp``: the largest entrywise difference between the JVP and finite
    #: differences; ``check_vjp``: ``|lhs - rhs|``.
    error: float
    #: The largest ``error`` the check would have accepted (for ``check_jvp``, the
    #: bound at the worst entry).
    tolerance: float
    #: ``check_vjp`` only (``None`` for ``check_jvp``): ⟨ȳ, J ẋ⟩ by finite differences.
    lhs: float | None = None
    #: ``check_vjp`` only (``None`` for ``check_jvp``): ⟨x̄, ẋ⟩ from the pullback.
    rhs: float | None = None
    #: ``check_vjp`` only: the estimated finite-difference error of ``lhs``.
    noise: float | None = None

    def __repr__(self) -> str:
        return f"{self.kind}({self.name}): passed"


def _name(f) -> str:
    return getattr(f, "__name__", None) or type(f).__name__


def _random_like(rng, x):
    return rng.standard_normal(shape_of(x)) if shape_of(x) else float(rng.standard_normal())


def _as_primals(check: str, f, primals) -> tuple:
    """The primals as a tuple; a single array (a common slip) gets a clear message."""
    if isinstance(primals, (tuple, list)):
        return tuple(primals)
    kind = type(primals).__name__
    shape = f" of shape {np.shape(primals)}" if hasattr(primals, "shape") else ""
    raise UsageError(
        f"{check}({_name(f)}): primals must be a tuple with one entry per argument of "
        f"{_name(f)}, got a {kind}{shape}. For a function of one argument write "
        f"{check}({_name(f)}, (x,)), with the trailing comma.")


def _require_f64(check: str, f, primals) -> None:
    for i, p in enumerate(primals):
        for leaf in tree.flatten(p)[0]:
            dt = np.result_type(_primal(leaf))
            if dt != np.float64:
                raise DTypeError(
                    f"{check}({_name(f)}): argument {i} has dtype {dt}; rule checks need "
                    f"float64 inputs (finite differences in lower precision cannot tell a "
                    f"right rule from a wrong one). Cast it, e.g. x.astype(np.float64).")


def _prepare(check: str, f, primals, domain) -> tuple[tuple, tuple]:
    primals = _as_primals(check, f, primals)
    _require_f64(check, f, primals)
    return primals, _domains.resolve(check, _name(f), domain, primals)


def _tangents(rng, primals, doms) -> tuple:
    """General random tangents, one per primal, each projected onto its domain."""
    return tuple(d.project(tree.tree_map(lambda x: _random_like(rng, x), p))
                 if d is not _domains.full else tree.tree_map(lambda x: _random_like(rng, x), p)
                 for p, d in zip(primals, doms))


def _axpy(a, x, y):
    """a * x + y over pytrees."""
    return tree.tree_map(lambda u, v: a * np.asarray(u) + np.asarray(v), x, y)


def _values(x) -> list:
    return [np.asarray(_primal(leaf), dtype=float) for leaf in tree.flatten(x)[0]]


def _central_difference(f, primals, tangents, eps, resolution: bool = False):
    """(f(x + eps t) - f(x - eps t)) / (2 eps); with ``resolution``, also the size
    u (|f(x + eps t)| + |f(x - eps t)|) / (2 eps) of one rounding step of that quotient."""
    plus = f(*[_axpy(eps, t, p) for p, t in zip(primals, tangents)])
    minus = f(*[_axpy(-eps, t, p) for p, t in zip(primals, tangents)])
    quotient = tree.tree_map(lambda a, b: (np.asarray(a) - np.asarray(b)) / (2 * eps),
                             plus, minus)
    if not resolution:
        return quotient
    u = np.finfo(float).eps
    step = tree.tree_map(lambda a, b: u * (np.abs(a) + np.abs(b)) / (2 * eps), plus, minus)
    return quotient, step


def _fmt(x) -> str:
    return np.array2string(np.asarray(_primal(x)), precision=6, threshold=12)


def check_jvp(f: Callable, primals: Sequence, *, seed: int = 0, eps: float = 1e-6,
              rtol: float = 1e-5, atol: float = 1e-8,
              domain: _domains.Domain | Sequence | None = None) -> CheckResult:
    """Check ``f``'s pushforward against central finite differences.

    The comparison is entry by entry (``|JVP - FD| <= atol*s + rtol*|FD|`` with
    ``s = max(|FD|, 1)``), so one wrong entry is seen at any size. The check
    then tests linearity, J(a t₁ + b t₂) = a J t₁ + b J t₂, to rounding accuracy.

    Parameters
    ----------
    f
        The function (possibly with a custom rule) to check.
    primals
        Tuple of float64 arguments, one per argument of ``f``: ``(x,)`` for one.
    seed
        Seed of the random tangent directions.
    eps, rtol, atol
        Finite-difference step and tolerances.
    domain
        Structured domain of the arguments (see :mod:`adlib.testing.domains`):
        a :class:`~adlib.testing.domains.Domain` for a single argument, or a
        tuple with one Domain or ``None`` per argument. Tangents are drawn in it.

    Raises
    ------
    adlib.CheckFailure
        An ``AssertionError`` naming ``f``, the output leaf and both values, when
        the JVP differs from finite differences or is not linear in the tangent.
    adlib.UsageError
        If ``primals`` is not a tuple (or ``domain`` does not fit).
    adlib.DTypeError
        If an argument is not float64.
    """
    primals, doms = _prepare("check_jvp", f, primals, domain)
    rng = np.random.default_rng(seed)
    t1 = _tangents(rng, primals, doms)
    t2 = _tangents(rng, primals, doms)
    _, ydot = jvp(f, primals, t1)
    fd = _central_difference(f, primals, t1, eps)
    worst, worst_tol = 0.0, 0.0
    ld, td = tree.flatten(ydot)
    lf, tf = tree.flatten(fd)
    if td != tf:
        raise CheckFailure(f"check_jvp({_name(f)}): the JVP has structure {td!r} but the "
                             f"output has structure {tf!r}")
    scale = max(float(np.sqrt(sum(np.sum(v * v) for v in _values(fd)))), 1.0)
    for k, (a, b) in enumerate(zip(ld, lf)):
        a, b = np.asarray(_primal(a)), np.asarray(b)
        if a.shape != b.shape:
            raise CheckFailure(f"check_jvp({_name(f)}): output leaf {k}: the JVP has shape "
                                 f"{a.shape} but the output has shape {b.shape}")
        gap = np.abs(a - b)
        err = float(np.max(gap, initial=0.0))
        if gap.size and err > worst:
            i = int(np.argmax(gap))
            worst, worst_tol = err, float(atol * scale + rtol * np.abs(b).ravel()[i])
        if not np.allclose(a, b, rtol=rtol, atol=atol * scale):
            raise CheckFailure(
                f"check_jvp({_name(f)}): output leaf {k}: the JVP disagrees with central "
                f"finite differences (max abs error {err:.3e}).\n  JVP:                "
                f"{_fmt(a)}\n  finite differences: {_fmt(b)}")
    # linearity in the tangent: J(a t1 + b t2) = a J t1 + b J t2
    a, b = 1.7, -0.6
    comb = tuple(_axpy(a, x, tree.tree_map(lambda u: b * np.asarray(u), y))
                 for x, y in zip(t1, t2))
    _, y_comb = jvp(f, primals, comb)
    _, y2 = jvp(f, primals, t2)
    expect = _axpy(a, ydot, tree.tree_map(lambda u: b * np.asarray(_primal(u)), y2))
    for k, (u, v) in enumerate(zip(tree.flatten(y_comb)[0], tree.flatten(expect)[0])):
        u, v = np.asarray(_primal(u)), np.asarray(v)
        if not np.allclose(u, v, rtol=1e-9, atol=1e-12 * scale):
            raise CheckFailure(
                f"check_jvp({_name(f)}): output leaf {k}: the JVP is not linear in the "
                f"tangent: J({a} t1 + {b} t2) = {_fmt(u)} but {a} J t1 + {b} J t2 = "
                f"{_fmt(v)}. A pushforward must be a linear map of the tangent.")
    return CheckResult("check_jvp", _name(f), worst, worst_tol)


def _fd_noise(ybar, jxdot, jxdot_2eps, step, xbar, xdot) -> float:
    """Estimated absolute error of ⟨ȳ, J ẋ⟩ by finite differences (see the module)."""
    yb, j1, j2 = _values(ybar), _values(jxdot), _values(jxdot_2eps)
    fd_err = float(np.sqrt(sum(np.sum((w * (a - b)) ** 2) for w, a, b in zip(yb, j1, j2))))
    fd_err += float(np.sqrt(sum(np.sum((w * r) ** 2) for w, r in zip(yb, _values(step)))))
    terms = sum(float(np.sum(np.abs(w * a))) for w, a in zip(yb, j1))
    terms += sum(float(np.sum(np.abs(c * t))) for c, t in zip(_values(xbar), _values(xdot)))
    n = sum(v.size for v in yb) + sum(v.size for v in _values(xdot))
    return FD_SAFETY * fd_err + 4.0 * np.finfo(float).eps * np.sqrt(max(n, 1)) * terms


def check_vjp(f: Callable, primals: Sequence, *, seed: int = 0, eps: float = 1e-6,
              rtol: float = 1e-8,
              domain: _domains.Domain | Sequence | None = None) -> CheckResult:
    """Dot-product test of ``f``'s pullback with general random vectors.

    Checks :math:`\\langle \\bar y, J\\dot x\\rangle = \\langle J^T\\bar y, \\dot x\\rangle`,
    computing :math:`J\\dot x` by central finite differences (so the test does
    not rely on any rule of ``f``), after checking the number and shapes of
    the returned cotangents. The tolerance comes from the errors actually
    incurred (the measured finite-difference error and the rounding of the two
    sums) plus ``rtol`` times the larger side, never from a bound that grows
    with the size of the arrays: a single wrong entry is caught at any size
    (the module docstring gives the design).

    Parameters
    ----------
    f
        The function (possibly with a custom rule) to check.
    primals
        Tuple of float64 arguments, one per argument of ``f``: ``(x,)`` for one.
    seed
        Seed of the random tangent and cotangent.
    eps
        Finite-difference step (the error estimate also uses ``2 * eps``).
    rtol
        Relative tolerance on the larger side of the identity.
    domain
        Structured domain of the arguments (see :mod:`adlib.testing.domains`):
        tangents are drawn in it, so the cotangent is judged only by its
        projection onto it, as a rule for structured inputs may assume.

    Returns
    -------
    CheckResult
        With ``lhs``, ``rhs``, ``error`` and the ``noise`` estimate.

    Raises
    ------
    adlib.CheckFailure
        An ``AssertionError`` naming ``f`` and both sides of the identity.
    adlib.UsageError
        If ``primals`` is not a tuple (or ``domain`` does not fit).
    adlib.DTypeError
        If an argument is not float64.
    """
    primals, doms = _prepare("check_vjp", f, primals, domain)
    rng = np.random.default_rng(seed)
    y, vjp_fn = vjp(f, *primals)
    xdot = _tangents(rng, primals, doms)
    ybar = tree.tree_map(lambda x: _random_like(rng, x), y)
    xbar = vjp_fn(ybar)
    if not isinstance(xbar, tuple) or len(xbar) != len(primals):
        raise CheckFailure(f"check_vjp({_name(f)}): the pullback returned "
                             f"{len(xbar) if isinstance(xbar, tuple) else type(xbar).__name__} "
                             f"cotangents for {len(primals)} inputs")
    xbar = tuple(tree.tree_map(np.zeros_like, t) if c is None else c
                 for c, t in zip(xbar, xdot))
    for i, (p, c) in enumerate(zip(primals, xbar)):
        for lp, lc in zip(tree.flatten(p)[0], tree.flatten(c)[0]):
            if shape_of(lp) != shape_of(lc):
                raise CheckFailure(f"check_vjp({_name(f)}): the cotangent for argument {i} "
                                     f"has shape {shape_of(lc)} but the argument has shape "
                                     f"{shape_of(lp)}")
    jxdot, step = _central_difference(f, primals, xdot, eps, resolution=True)
    jxdot_2eps = _central_difference(f, primals, xdot, 2 * eps)
    noise = _fd_noise(ybar, jxdot, jxdot_2eps, step, xbar, xdot)
    res = dot_product_identity(tree.unflatten(tree.flatten(ybar)[1], _values(ybar)),
                               tree.unflatten(tree.flatten(jxdot)[1], _values(jxdot)),
                               tuple(tree.unflatten(tree.flatten(c)[1], _values(c))
                                     for c in xbar),
                               xdot, rtol=rtol, noise=noise, name=_name(f))
    if not res.passed:
        raise CheckFailure(
            f"check_vjp({_name(f)}): dot-product test failed: <ybar, J xdot> = {res.lhs:.6g} "
            f"(finite differences) but <J^T ybar, xdot> = {res.rhs:.6g} (pullback); "
            f"difference {res.error:.2e}. The pullback is not the adjoint of the derivative.")
    tolerance = noise + rtol * max(abs(res.lhs), abs(res.rhs))
    return CheckResult("check_vjp", _name(f), res.error, tolerance, res.lhs, res.rhs, noise)


def check_grads(f: Callable, args: Sequence, order: int = 1,
                modes: Sequence[str] = ("fwd", "rev"), *, seed: int = 0,
                eps: float = 1e-6, rtol: float = 1e-5,
                domain: _domains.Domain | Sequence | None = None) -> None:
    """Check ``f``'s derivatives in the given modes, up to ``order``.

    ``fwd`` runs :func:`check_jvp` with ``rtol``; ``rev`` runs
    :func:`check_vjp` with ``rtol / 1000`` (the dot-product test compares two
    sums, not entries; see its docstring). For ``order=2`` the JVP (fwd) and
    the pullback (rev) are themselves checked as functions of the primals,
    with a fixed random direction (drawn in ``domain``).

    Raises
    ------
    adlib.CheckFailure
        From the first check that fails.
    adlib.UsageError
        If ``args`` is not a tuple, or for an unknown mode.
    adlib.DTypeError
        If an argument is not float64.
    """
    args, doms = _prepare("check_grads", f, args, domain)
    for m in modes:
        if m not in ("fwd", "rev"):
            raise UsageError(f"check_grads: unknown mode {m!r}; use 'fwd' and/or 'rev'")
    if "fwd" in modes:
        check_jvp(f, args, seed=seed, eps=eps, rtol=rtol, domain=doms)
    if "rev" in modes:
        check_vjp(f, args, seed=seed, eps=eps, rtol=rtol * 1e-3, domain=doms)
    if order > 1:
        rng = np.random.default_rng(seed + 1000)
        if "fwd" in modes:
            v = _tangents(rng, args, doms)

            def f_jvp(*xs):
                return jvp(f, xs, v)[1]
            f_jvp.__name__ = f"jvp_of_{_name(f)}"
            check_grads(f_jvp, args, order - 1, modes, seed=seed + 1, eps=eps,
                        rtol=rtol * 10, domain=doms)
        if "rev" in modes:
            y = f(*args)
            w = tree.tree_map(lambda x: _random_like(rng, x), y)

            def f_vjp(*xs):
                return vjp(f, *xs)[1](w)
            f_vjp.__name__ = f"vjp_of_{_name(f)}"
            check_grads(f_vjp, args, order - 1, modes, seed=seed + 2, eps=eps,
                        rtol=rtol * 10, domain=doms)
