"""Implicit functions ``F(x, y) = 0``: the linearized equation and the adjoint.

:func:`implicit_pushforward` perturbs ``x`` and ``y`` together and keeps the first-order
terms: ``∂ᵧF ẏ + ∂ₓF ẋ = 0``, a linear equation for ``ẏ``.
:func:`implicit_pullback` transposes it with the book's sign convention for adjoint
variables (the box "One sign convention for the whole book" on the notation page,
label ``adjoint-sign-convention``): the multiplier ``λ`` solves ``∂ᵧFᵀ λ = ȳ`` and then
``x̄ = −∂ₓFᵀ λ``.
"""
from __future__ import annotations

import dataclasses
from functools import reduce
from typing import Any, Callable, Sequence

import sympy as sp

from adlib.errors import DTypeError
from adlib.symbolic.derivation import (CANCEL, DROP, PERTURB, Derivation, _angle, _cat,
                                       _equation, _order_form, _parens, _plus, _Step,
                                       _t, _Tex)
from adlib.symbolic.derive import Cotangents, _expand_label
from adlib.symbolic.expansion import _first_order, _gradient, _sum, inner
from adlib.symbolic.notation import (Variable, _as_inputs, _is_matrix, _leaves, _named_like,
                                     _perturbation, _shape_kind, bar, dot)
from adlib.symbolic.verify import _bad, _flat, _jacobian_check, _same


def _residual(F: Any) -> Any:
    if isinstance(F, sp.Equality):
        return F.lhs - F.rhs
    F = sp.sympify(F)
    return sp.ImmutableMatrix(F) if isinstance(F, sp.MatrixBase) else F


def _split_by(expr: Any, v: Variable, others: Sequence[Variable]) -> tuple:
    """Split a linear expression into (terms with ``v``, the rest)."""
    if isinstance(expr, sp.MatrixBase) or not _is_matrix(expr):
        zero_v = {e: 0 for e in _leaves([v])}
        zero_o = {e: 0 for e in _leaves(others)}
        return sp.expand(expr.xreplace(zero_o)), sp.expand(expr.xreplace(zero_v))
    terms = sp.MatAdd.make_args(expr.expand())
    with_v = _sum([t for t in terms if t.has(v)])
    rest = _sum([t for t in terms if not t.has(v)])
    zero = sp.ZeroMatrix(*expr.shape)
    return (zero if with_v is None else with_v), (zero if rest is None else rest)


#: Explicit linear systems for a tangent or multiplier are solved in closed form up to this
#: many unknowns (the closed form grows quickly with the size).
_MAX_CLOSED_FORM = 4


def _solve_linear(op: Any, rhs: Any, v: Variable) -> Any:
    """Solve ``op(v) = rhs`` for ``v``; None when no closed form is found."""
    if isinstance(v, sp.MatrixBase):
        # a linear system M v = r: Cramer's rule (adjugate over determinant) is quick and
        # compact for a few unknowns; larger systems stay an equation
        try:
            M, r = sp.linear_eq_to_matrix(list(sp.Matrix(op) - sp.Matrix(rhs)), list(v))
        except ValueError:  # not linear in v
            return None
        if M.rows != M.cols or M.rows > _MAX_CLOSED_FORM:
            return None
        det = sp.factor(M.det(method="berkowitz"))
        if det == 0:
            return None
        num = M.adjugate(method="berkowitz") * r
        return sp.ImmutableMatrix(*v.shape, [sp.expand(e) / det for e in num])
    if not _is_matrix(v):
        sol = sp.solve(sp.Eq(op, rhs), v)
        return sol[0] if len(sol) == 1 else None
    if isinstance(op, sp.MatAdd):
        return None
    c, m = op.as_coeff_mmul()
    factors = list(m.args) if isinstance(m, sp.MatMul) else [m]
    if factors == [v]:
        return rhs / c
    if factors[-1] == v and not any(a.has(v) for a in factors[:-1]):
        return reduce(lambda a, b: a * b, factors[:-1]).I * rhs / c
    if factors[0] == v and not any(a.has(v) for a in factors[1:]):
        return rhs * reduce(lambda a, b: a * b, factors[1:]).I / c
    return None


def _multiplier(F: Any, name: str | None) -> Variable:
    upper = _is_matrix(F) and _shape_kind(F.shape) == "mat"
    return _named_like(F, name or ("Lambda" if upper else "lambda"))


@dataclasses.dataclass(repr=False)
class ImplicitPushforward(Derivation):
    """Result of :func:`implicit_pushforward` for ``F(x, y) = 0``."""

    #: The residual ``F(x, y)``.
    residual: Any = None
    #: The independent variables ``x``.
    inputs: tuple = ()
    #: Their tangents ``ẋ``.
    tangents: tuple = ()
    #: The implicitly defined ``y``.
    output: Any = None
    #: The first-order terms with ``ẏ``, i.e. ``∂ᵧF ẏ``.
    operator: Any = None
    #: The other first-order terms, i.e. ``∂ₓF ẋ``.
    source: Any = None
    #: The solution ``ẏ`` when the linear equation has a closed form, else None.
    tangent_out: Any = None

    @property
    def equation(self) -> sp.Eq:
        """The linear equation ``∂ᵧF ẏ = −∂ₓF ẋ`` that defines ``ẏ``."""
        lhs, rhs = _equation(self.operator, -self.source)
        return sp.Eq(lhs, rhs, evaluate=False)

    @property
    def result(self) -> sp.Eq:
        """The linear equation for ``ẏ`` (same as ``equation``)."""
        return self.equation

    def verify(self, sizes: Sequence = (2, 3), seed: int = 0) -> bool:
        """Check ``operator + source = ∂ᵧF ẏ + ∂ₓF ẋ`` (and ``tangent_out``, if any) against
        SymPy's Jacobians of ``F`` on explicit matrices at random rational points."""
        return _verify_implicit(self, sizes, seed)


@dataclasses.dataclass(repr=False)
class ImplicitPullback(Derivation):
    """Result of :func:`implicit_pullback`: the adjoint equation and the cotangents."""

    #: The residual ``F(x, y)``.
    residual: Any = None
    #: The independent variables ``x``.
    inputs: tuple = ()
    #: The implicitly defined ``y``.
    output: Any = None
    #: The multiplier (adjoint variable) ``λ``, shaped like ``F``.
    multiplier: Any = None
    #: The output cotangent ``ȳ``.
    cotangent_out: Any = None
    #: The left side of the adjoint equation, ``∂ᵧFᵀ λ``.
    adjoint_operator: Any = None
    #: The cotangents ``{x: −∂ₓFᵀ λ}``, in terms of the multiplier.
    cotangents: dict = dataclasses.field(default_factory=Cotangents)
    #: The multiplier ``λ`` in terms of ``ȳ`` when the adjoint equation has a closed form,
    #: else None.
    multiplier_solution: Any = None

    @property
    def adjoint_equation(self) -> sp.Eq:
        """The adjoint equation ``∂ᵧFᵀ λ = ȳ`` (sign-normalised: if ``∂ᵧFᵀ λ`` starts
        with a minus sign, both sides are negated)."""
        lhs, rhs = _equation(self.adjoint_operator, self.cotangent_out)
        return sp.Eq(lhs, rhs, evaluate=False)

    @property
    def result(self) -> dict:
        """``{x: x̄}`` in terms of the multiplier (same as ``cotangents``)."""
        return self.cotangents

    def verify(self, sizes: Sequence = (2, 3), seed: int = 0) -> bool:
        """Check the adjoint operator, the cotangents (and ``multiplier_solution``) against
        the transposed SymPy Jacobians of ``F`` on explicit matrices."""
        return _verify_implicit(self, sizes, seed)


def implicit_pushforward(residual: Any, inputs: Any, output: Variable) -> ImplicitPushforward:
    """Linearize ``F(x, y) = 0`` (``y`` implicitly a function of ``x``): the equation for ``ẏ``.

    Perturbing both ``x`` and ``y`` and keeping first-order terms gives
    ``∂ᵧF ẏ + ∂ₓF ẋ = 0``. For scalars it is solved for ``ẏ``; for explicit matrices it is
    solved as a linear system (Cramer's rule) when ``ẏ`` has at most four entries; for
    matrix symbols it is solved when ``ẏ`` appears once, multiplied from one side
    (``A ẏ`` or ``ẏ A``); otherwise (e.g. a Lyapunov equation) it stays an equation.

    Parameters
    ----------
    residual : expression or sympy.Eq
        ``F(x, y)`` (meaning ``F = 0``) or an equation ``lhs = rhs``.
    inputs : Variable or sequence of them
        The independent variables ``x``.
    output : Variable
        The dependent variable ``y`` (stack several unknowns into one explicit matrix).

    Returns
    -------
    ImplicitPushforward

    Examples
    --------
    >>> import sympy as sp
    >>> A, P, Q = (sp.MatrixSymbol(s, 3, 3) for s in "APQ")
    >>> ipf = implicit_pushforward(A * P + P * A.T + Q, [A, Q], P)
    >>> ipf.equation
    Eq(A*Pdot + Pdot*A.T, -Adot*P - P*Adot.T - Qdot)
    >>> ipf.tangent_out is None
    True
    >>> b, x = sp.MatrixSymbol("b", 3, 1), sp.MatrixSymbol("x", 3, 1)
    >>> implicit_pushforward(sp.Eq(A * x, b), [A, b], x).tangent_out
    A**(-1)*(-Adot*x + bdot)
    """
    F = _residual(residual)
    inputs = _as_inputs(inputs)
    (output,) = _as_inputs(output)
    tangents = tuple(dot(x) for x in inputs)
    yd = dot(output)
    perturbed = F.xreplace(_perturbation(inputs + (output,), tangents + (yd,)))
    F0, F1, facts = _first_order(perturbed)
    op, src = _split_by(F1, yd, tangents)
    lhs, rhs = _equation(op, -src)
    sol = _solve_linear(lhs, rhs, yd)
    zero = _Tex("0", "0")
    steps = (
        _Step(_t(F), zero, _Tex(rf"\text{{defines }} {_t(output).latex} \text{{ implicitly}}",
                                f"defines {_t(output).text} implicitly")),
        _Step(_t(perturbed), zero, PERTURB),
        _Step(_order_form(F0, F1), zero, _expand_label(facts)),
        _Step(_order_form(F0, F1, big_o=False), zero, DROP),
        _Step(_cat(op, _Tex("+", " + "), _parens(src)), zero,
              _Tex(rf"\text{{{CANCEL} }} {_t(F0).latex} = 0",
                   f"{CANCEL} {_t(F0).text} = 0") if len(_t(F0).text) <= 12 else CANCEL),
        _Step(_t(lhs), _t(rhs), "rename δ → dot: linear equation for the tangent"),
    )
    if sol is not None:
        steps += (_Step(_t(yd), _t(sol), "solve"),)
    title = f"Implicit pushforward of {_t(F).text} = 0 for {_t(output).text}"
    return ImplicitPushforward(title, steps, F, inputs, tangents, output, op, src, sol)


def implicit_pullback(residual: ImplicitPushforward | Any, inputs: Any = None,
                      output: Variable | None = None, *, multiplier: str | None = None
                      ) -> ImplicitPullback:
    """Adjoint of an implicit function ``F(x, y) = 0``: solve for ``λ``, then contract.

    From ``∂ᵧF ẏ + ∂ₓF ẋ = 0``, take ``⟨λ, ·⟩`` and move the operators onto the tangents:
    ``⟨∂ᵧFᵀ λ, ẏ⟩ + ⟨∂ₓFᵀ λ, ẋ⟩ = 0``. Choosing ``λ`` with ``∂ᵧFᵀ λ = ȳ`` (the adjoint
    equation) gives ``⟨ȳ, ẏ⟩ = ⟨−∂ₓFᵀ λ, ẋ⟩``, so ``x̄ = −∂ₓFᵀ λ``: one extra solve,
    whatever the number of inputs. This is the book's sign convention for adjoint
    variables (:ref:`adjoint-sign-convention`): with it, ``λ`` is itself a cotangent
    (``λ = ȳ`` for an explicit function ``F = y − f(x)``).

    Parameters
    ----------
    residual : ImplicitPushforward, expression or sympy.Eq
        A derived implicit pushforward, or ``F`` (then ``inputs`` and ``output`` are
        required).
    inputs, output : optional
        As in :func:`implicit_pushforward`.
    multiplier : str, optional
        Name of the adjoint variable (default ``lambda``, or ``Lambda`` for a matrix).

    Returns
    -------
    ImplicitPullback

    Examples
    --------
    >>> import sympy as sp
    >>> A, P, Q = (sp.MatrixSymbol(s, 3, 3) for s in "APQ")
    >>> ipb = implicit_pullback(A * P + P * A.T + Q, [A, Q], P)
    >>> ipb.adjoint_equation
    Eq(Lambda*A + A.T*Lambda, Pbar)
    >>> ipb.cotangents[A], ipb.cotangents[Q]
    (-Lambda*P.T - Lambda.T*P, -Lambda)
    """
    if not isinstance(residual, ImplicitPushforward):
        if inputs is None or output is None:
            raise DTypeError("adlib.symbolic.implicit_pullback: pass an "
                             "ImplicitPushforward, or the residual with its inputs and "
                             "output (implicit_pullback(F, inputs, output)).")
        residual = implicit_pushforward(residual, inputs, output)
    ipf = residual
    y, yd = ipf.output, dot(ipf.output)
    yb = bar(y)
    lam = _multiplier(ipf.residual, multiplier)
    adj = _gradient(inner(lam, ipf.operator), yd)
    # the book's sign convention: ∂ᵧFᵀ λ = ȳ, then x̄ = −∂ₓFᵀ λ
    transposed = [_gradient(inner(lam, ipf.source), xd) for xd in ipf.tangents]
    cot = Cotangents((x, _negated(g)) for x, g in zip(ipf.inputs, transposed))
    lhs, rhs = _equation(adj, yb)
    lam_sol = _solve_linear(lhs, rhs, lam)
    zero = _Tex("0", "0")
    pairs = [_angle(adj, yd)] + [_angle(g, xd) for g, xd in zip(transposed, ipf.tangents)]
    steps = (
        _Step(_cat(ipf.operator, _Tex("+", " + "), _parens(ipf.source)), zero,
              "linearized residual"),
        _Step(_plus([_angle(lam, ipf.operator), _angle(lam, ipf.source)]), zero,
              _Tex(rf"\text{{inner product with }} {_t(lam).latex}",
                   f"inner product with {_t(lam).text}")),
        _Step(_plus(pairs), zero, "transpose: move the operators onto the tangents"),
        _Step(_t(lhs), _t(rhs), "choose the adjoint variable: adjoint equation"),
        _Step(_angle(yb, yd), _plus([_angle(g, xd) for g, xd in zip(cot.values(),
                                                                     ipf.tangents)]),
              "substitute"),
    ) + tuple(_Step(_t(bar(x)), _t(g), "read off the cotangent") for x, g in cot.items())
    if lam_sol is not None:
        steps += (_Step(_t(lam), _t(lam_sol), "solve the adjoint equation"),)
    title = f"Implicit pullback of {_t(ipf.residual).text} = 0 for {_t(y).text}"
    return ImplicitPullback(title, steps, ipf.residual, ipf.inputs, y, lam, yb, adj, cot,
                            lam_sol)


def _negated(g: Any) -> Any:
    """``−g``, with the sign multiplied into the terms of a sum."""
    if isinstance(g, sp.MatrixBase) or not _is_matrix(g):
        return sp.expand(-g)
    if isinstance(g, sp.ZeroMatrix):
        return g
    return sp.MatAdd(*[-t for t in sp.MatAdd.make_args(g)]).doit()



def _verify_implicit(d: ImplicitPushforward | ImplicitPullback, sizes: Sequence,
                     seed: int) -> bool:
    inputs, y = d.inputs, d.output
    ins = inputs + (y,)

    def rule(pt: _Point, J: sp.Matrix, merge: Callable) -> bool | None:
        nxs = [len(_flat(pt.substitute(x))) for x in inputs]
        Jx, Jy = J[:, :sum(nxs)], J[:, sum(nxs):]
        if isinstance(d, ImplicitPushforward):
            xdot = sp.Matrix([v for x in inputs for v in _flat(pt.substitute(dot(x)))])
            ydot = sp.Matrix(_flat(pt.substitute(dot(y))))
            ok = _same(_flat(pt.substitute(d.operator + d.source)), list(Jy * ydot + Jx * xdot))
            if ok and d.tangent_out is not None:
                sol = pt.substitute(d.tangent_out)
                if _bad(sol):
                    return None
                ok = _same(list(Jy * sp.Matrix(_flat(sol)) + Jx * xdot), [0] * Jy.rows)
            return ok
        lam = sp.Matrix(_flat(pt.substitute(d.multiplier)))
        ok = _same(_flat(pt.substitute(d.adjoint_operator)), list(Jy.T * lam))
        # x̄ = −∂ₓFᵀ λ; merged: a symbol repeated in an explicit input counts once
        claimed = [v for x in inputs for v in _flat(pt.substitute(d.cotangents[x]))]
        ok = ok and len(claimed) == Jx.cols and _same(merge(claimed),
                                                      merge(list(-Jx.T * lam)))
        if ok and d.multiplier_solution is not None:
            sol = pt.substitute(d.multiplier_solution)
            if _bad(sol):
                return None
            ybar = sp.Matrix(_flat(pt.substitute(d.cotangent_out)))
            ok = _same(list(Jy.T * sp.Matrix(_flat(sol))), list(ybar))
        return ok

    leaves = [d.residual] + list(ins)
    return _jacobian_check(d.residual, ins, rule, sizes, seed, leaves)


