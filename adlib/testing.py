"""Rule checkers: test a derivative against finite differences, never against itself.

* :func:`check_jvp` compares the pushforward with central finite differences
  in a random direction, and checks that it is linear in the tangent.
* :func:`check_vjp` runs the dot-product test
  :math:`\\langle \\bar y, \\partial f\\,\\dot x\\rangle = \\langle \\partial f^T\\bar y, \\dot x\\rangle`
  with general random :math:`\\dot x, \\bar y` (the left side by finite differences),
  after checking that the pullback returns one cotangent per input, each with
  its input's shape.
* :func:`check_grads` runs both, and recurses for higher orders.

Random draws are general (no symmetry, no special values): a symmetric seed
can hide a wrong rule.  Inputs must be float64: finite differences in float32
are too coarse to judge a rule.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from adlib import tree
from adlib.api import jvp, vjp
from adlib.engine import _primal, shape_of

__all__ = ["check_jvp", "check_vjp", "check_grads", "CheckResult"]


class CheckResult:
    """Outcome of a passed check; the numbers are attributes, not in the repr."""

    def __init__(self, kind: str, name: str, lhs: float, rhs: float, error: float):
        self.kind, self.name, self.lhs, self.rhs, self.error = kind, name, lhs, rhs, error

    def __repr__(self) -> str:
        return f"{self.kind}({self.name}): passed"


def _name(f) -> str:
    return getattr(f, "__name__", None) or type(f).__name__


def _random_like(rng, x):
    return rng.standard_normal(shape_of(x)) if shape_of(x) else float(rng.standard_normal())


def _require_f64(check: str, f, primals) -> None:
    for i, p in enumerate(primals):
        for leaf in tree.flatten(p)[0]:
            dt = np.result_type(_primal(leaf))
            if dt != np.float64:
                raise TypeError(
                    f"{check}({_name(f)}): argument {i} has dtype {dt}; rule checks need "
                    f"float64 inputs (finite differences in lower precision cannot tell a "
                    f"right rule from a wrong one). Cast it, e.g. x.astype(np.float64).")


def _axpy(a, x, y):
    """a * x + y over pytrees."""
    return tree.tree_map(lambda u, v: a * np.asarray(u) + np.asarray(v), x, y)


def _inner(x, y) -> float:
    lx, tdx = tree.flatten(x)
    ly, tdy = tree.flatten(y)
    return float(sum(np.sum(np.asarray(_primal(a)) * np.asarray(_primal(b)))
                     for a, b in zip(lx, ly)))


def _norm(x) -> float:
    return float(np.sqrt(_inner(x, x)))


def _central_difference(f, primals, tangents, eps):
    plus = f(*[_axpy(eps, t, p) for p, t in zip(primals, tangents)])
    minus = f(*[_axpy(-eps, t, p) for p, t in zip(primals, tangents)])
    return tree.tree_map(lambda a, b: (np.asarray(a) - np.asarray(b)) / (2 * eps), plus, minus)


def _fmt(x) -> str:
    return np.array2string(np.asarray(_primal(x)), precision=6, threshold=12)


def check_jvp(f: Callable, primals: Sequence, *, seed: int = 0, eps: float = 1e-6,
              rtol: float = 1e-5, atol: float = 1e-8) -> CheckResult:
    """Check ``f``'s pushforward against central finite differences.

    Parameters
    ----------
    f
        The function (possibly with a custom rule) to check.
    primals
        Tuple of float64 arguments.
    seed
        Seed of the random tangent direction.

    Raises
    ------
    AssertionError
        Naming ``f``, the output leaf and both values, when the JVP differs
        from finite differences or is not linear in the tangent.
    """
    primals = tuple(primals)
    _require_f64("check_jvp", f, primals)
    rng = np.random.default_rng(seed)
    t1 = tuple(tree.tree_map(lambda x: _random_like(rng, x), p) for p in primals)
    t2 = tuple(tree.tree_map(lambda x: _random_like(rng, x), p) for p in primals)
    _, ydot = jvp(f, primals, t1)
    fd = _central_difference(f, primals, t1, eps)
    worst = 0.0
    ld, td = tree.flatten(ydot)
    lf, tf = tree.flatten(fd)
    if td != tf:
        raise AssertionError(f"check_jvp({_name(f)}): the JVP has structure {td!r} but the "
                             f"output has structure {tf!r}")
    scale = max(_norm(fd), 1.0)
    for k, (a, b) in enumerate(zip(ld, lf)):
        a, b = np.asarray(_primal(a)), np.asarray(b)
        if a.shape != b.shape:
            raise AssertionError(f"check_jvp({_name(f)}): output leaf {k}: the JVP has shape "
                                 f"{a.shape} but the output has shape {b.shape}")
        err = float(np.max(np.abs(a - b), initial=0.0))
        worst = max(worst, err)
        if not np.allclose(a, b, rtol=rtol, atol=atol * scale):
            raise AssertionError(
                f"check_jvp({_name(f)}): output leaf {k}: the JVP disagrees with central "
                f"finite differences (max abs error {err:.3e}).\n  JVP:                "
                f"{_fmt(a)}\n  finite differences: {_fmt(b)}")
    # linearity in the tangent: J(a t1 + b t2) = a J t1 + b J t2
    a, b = 1.7, -0.6
    comb = tuple(_axpy(a, x, tree.tree_map(lambda u: b * np.asarray(u), y)) for x, y in zip(t1, t2))
    _, y_comb = jvp(f, primals, comb)
    _, y2 = jvp(f, primals, t2)
    expect = _axpy(a, ydot, tree.tree_map(lambda u: b * np.asarray(_primal(u)), y2))
    for k, (u, v) in enumerate(zip(tree.flatten(y_comb)[0], tree.flatten(expect)[0])):
        u, v = np.asarray(_primal(u)), np.asarray(v)
        if not np.allclose(u, v, rtol=1e-9, atol=1e-12 * scale):
            raise AssertionError(
                f"check_jvp({_name(f)}): output leaf {k}: the JVP is not linear in the "
                f"tangent: J({a} t1 + {b} t2) = {_fmt(u)} but {a} J t1 + {b} J t2 = "
                f"{_fmt(v)}. A pushforward must be a linear map of the tangent.")
    return CheckResult("check_jvp", _name(f), 0.0, 0.0, worst)


def check_vjp(f: Callable, primals: Sequence, *, seed: int = 0, eps: float = 1e-6,
              rtol: float = 1e-6) -> CheckResult:
    """Dot-product test of ``f``'s pullback with general random vectors.

    Checks :math:`\\langle \\bar y, J\\dot x\\rangle = \\langle J^T\\bar y, \\dot x\\rangle`,
    computing :math:`J\\dot x` by central finite differences (so the test does
    not rely on any rule of ``f``), after checking the number and shapes of
    the returned cotangents.

    Raises
    ------
    AssertionError
        Naming ``f``, the argument and both sides of the identity on failure.
    """
    primals = tuple(primals)
    _require_f64("check_vjp", f, primals)
    rng = np.random.default_rng(seed)
    y, vjp_fn = vjp(f, *primals)
    xdot = tuple(tree.tree_map(lambda x: _random_like(rng, x), p) for p in primals)
    ybar = tree.tree_map(lambda x: _random_like(rng, x), y)
    xbar = vjp_fn(ybar)
    if not isinstance(xbar, tuple) or len(xbar) != len(primals):
        raise AssertionError(f"check_vjp({_name(f)}): the pullback returned "
                             f"{len(xbar) if isinstance(xbar, tuple) else type(xbar).__name__} "
                             f"cotangents for {len(primals)} inputs")
    for i, (p, c) in enumerate(zip(primals, xbar)):
        for lp, lc in zip(tree.flatten(p)[0], tree.flatten(c)[0]):
            if shape_of(lp) != shape_of(lc):
                raise AssertionError(f"check_vjp({_name(f)}): the cotangent for argument {i} "
                                     f"has shape {shape_of(lc)} but the argument has shape "
                                     f"{shape_of(lp)}")
    jxdot = _central_difference(f, primals, xdot, eps)
    lhs = _inner(ybar, jxdot)
    rhs = sum(_inner(c, t) for c, t in zip(xbar, xdot))
    scale = _norm(ybar) * _norm(jxdot) + sum(_norm(c) * _norm(t) for c, t in zip(xbar, xdot))
    err = abs(lhs - rhs)
    if not err <= rtol * max(scale, 1e-300):
        raise AssertionError(
            f"check_vjp({_name(f)}): dot-product test failed: <ybar, J xdot> = {lhs:.6g} "
            f"(finite differences) but <J^T ybar, xdot> = {rhs:.6g} (pullback); "
            f"difference {err:.2e}. The pullback is not the adjoint of the derivative.")
    return CheckResult("check_vjp", _name(f), lhs, rhs, err)


def check_grads(f: Callable, args: Sequence, order: int = 1,
                modes: Sequence[str] = ("fwd", "rev"), *, seed: int = 0,
                eps: float = 1e-6, rtol: float = 1e-5) -> None:
    """Check ``f``'s derivatives in the given modes, up to ``order``.

    For ``order=2`` the JVP (fwd) and the pullback (rev) are themselves
    checked as functions of the primals, with a fixed random direction.
    """
    args = tuple(args)
    for m in modes:
        if m not in ("fwd", "rev"):
            raise ValueError(f"check_grads: unknown mode {m!r}; use 'fwd' and/or 'rev'")
    if "fwd" in modes:
        check_jvp(f, args, seed=seed, eps=eps, rtol=rtol)
    if "rev" in modes:
        check_vjp(f, args, seed=seed, eps=eps, rtol=rtol)
    if order > 1:
        rng = np.random.default_rng(seed + 1000)
        if "fwd" in modes:
            v = tuple(tree.tree_map(lambda x: _random_like(rng, x), a) for a in args)

            def f_jvp(*xs):
                return jvp(f, xs, v)[1]
            f_jvp.__name__ = f"jvp_of_{_name(f)}"
            check_grads(f_jvp, args, order - 1, modes, seed=seed + 1, eps=eps, rtol=rtol * 10)
        if "rev" in modes:
            y = f(*args)
            w = tree.tree_map(lambda x: _random_like(rng, x), y)

            def f_vjp(*xs):
                return vjp(f, *xs)[1](w)
            f_vjp.__name__ = f"vjp_of_{_name(f)}"
            check_grads(f_vjp, args, order - 1, modes, seed=seed + 2, eps=eps, rtol=rtol * 10)
