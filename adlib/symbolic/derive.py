"""Derive a pushforward by perturbation and a pullback by transposition.

:func:`pushforward` runs the five steps of Part 3 ch. 1 on ``y = f(x)`` with the
perturbation ``x → x + εẋ``: *perturb*, *expand* (in powers of ε), *drop higher order*,
*cancel the primal* ``y = f(x)``, *rename δ → dot* (the coefficient of ε is ``ẏ``).
:func:`pullback` writes ``⟨ȳ, ẏ⟩``, moves everything onto the tangents and reads off
whatever multiplies each ``ẋ``: it is ``x̄``.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import sympy as sp

from adlib.errors import DTypeError, RuleError
from adlib.symbolic.derivation import (CANCEL, DROP, EXPAND, PERTURB, RENAME, Derivation,
                                       _angle, _cat, _order_form, _parens, _plus, _Step,
                                       _t, _Tex)
from adlib.symbolic.expansion import _first_order, _gradient, inner
from adlib.symbolic.notation import (_apply, _as_inputs, _leaves, _names, _output_symbol,
                                     _perturbation, bar, dot)
from adlib.symbolic.verify import verify_pullback, verify_pushforward


class Cotangents(dict):
    """``{x: x̄}``, looked up by the input, also when it is given as a mutable
    ``sp.Matrix`` (explicit-entry inputs are stored as ``sp.ImmutableMatrix``)."""

    @staticmethod
    def _key(key: Any) -> Any:
        return sp.ImmutableMatrix(key) if isinstance(key, sp.MatrixBase) else key

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(self._key(key))

    def __contains__(self, key: Any) -> bool:
        return super().__contains__(self._key(key))

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(self._key(key), default)


def _expand_label(facts: Sequence[str]) -> str:
    """The label of the "expand" step, naming built-in knowledge it used."""
    return EXPAND if not facts else f"{EXPAND} ({'; '.join(facts)})"


@dataclasses.dataclass(repr=False)
class Pushforward(Derivation):
    """Result of :func:`pushforward`: ``ẏ`` as a linear function of the input tangents."""

    #: The inputs ``x``.
    inputs: tuple = ()
    #: Their tangents ``ẋ``, in the same order.
    tangents: tuple = ()
    #: The function value ``y = f(x)``.
    output: Any = None
    #: The name ``y`` used in the steps.
    output_symbol: Any = None
    #: The output tangent ``ẏ``, in terms of the inputs and tangents.
    tangent_out: Any = None

    @property
    def result(self) -> Any:
        """``ẏ`` (same as ``tangent_out``)."""
        return self.tangent_out

    def verify(self, sizes: Sequence = (2, 3), seed: int = 0) -> bool:
        """Compare ``tangent_out`` with SymPy's Jacobian; see :func:`verify_pushforward`."""
        return verify_pushforward(self.output, self.inputs, self.tangent_out,
                                  sizes=sizes, seed=seed)


@dataclasses.dataclass(repr=False)
class Pullback(Derivation):
    """Result of :func:`pullback`: one cotangent ``x̄`` per input, linear in ``ȳ``."""

    #: The inputs ``x``.
    inputs: tuple = ()
    #: The function value ``y = f(x)``.
    output: Any = None
    #: The output cotangent ``ȳ``.
    cotangent_out: Any = None
    #: The cotangents ``{x: x̄}`` in input order (explicit matrix inputs are keys as
    #: ``sp.ImmutableMatrix``).
    cotangents: dict = dataclasses.field(default_factory=Cotangents)
    #: The :class:`Pushforward` that was transposed.
    pushforward: Any = None

    @property
    def result(self) -> dict:
        """``{x: x̄}`` (same as ``cotangents``)."""
        return self.cotangents

    def verify(self, sizes: Sequence = (2, 3), seed: int = 0) -> bool:
        """Compare the cotangents with SymPy's Jacobian; see :func:`verify_pullback`."""
        return verify_pullback(self.output, self.inputs, self.cotangents,
                               cotangent_out=self.cotangent_out, sizes=sizes, seed=seed)


def pushforward(f: Any, inputs: Any, *, output: str | None = None) -> Pushforward:
    """Derive the pushforward (JVP) of ``y = f(x)`` by perturbation.

    Each input ``x`` is replaced by ``x + ε ẋ``; the result is expanded to first order in
    ``ε`` and the coefficient of ``ε`` is ``ẏ``.

    Parameters
    ----------
    f : expression or callable
        A SymPy expression in the inputs, or a function taking the inputs and returning one.
    inputs : Symbol, MatrixSymbol, Matrix of Symbols, or a sequence of them
        The variables to perturb (others stay constant).
    output : str, optional
        Name of the output in the displayed steps (default ``y``, or ``Y`` for a matrix).

    Returns
    -------
    Pushforward
        The steps and ``tangent_out`` (``ẏ``).

    Examples
    --------
    >>> import sympy as sp
    >>> A, x = sp.MatrixSymbol("A", 3, 3), sp.MatrixSymbol("x", 3, 1)
    >>> pushforward(A * x, [A, x]).tangent_out
    A*xdot + Adot*x
    >>> X = sp.MatrixSymbol("X", 3, 3)
    >>> pushforward(X.inverse(), X).tangent_out
    -X**(-1)*Xdot*X**(-1)
    >>> x, y = sp.symbols("x y")
    >>> pushforward(y * sp.sin(x), [x, y]).tangent_out
    xdot*y*cos(x) + ydot*sin(x)
    """
    inputs = _as_inputs(inputs)
    tangents = tuple(dot(x) for x in inputs)
    y = _apply(f, inputs)
    perturbed = _apply(f, inputs, _perturbation(inputs, tangents))
    e0, e1, facts = _first_order(perturbed)
    ys = _output_symbol(y, _names(inputs + (y,)), output)
    yd = dot(ys)
    eps = _Tex(r"\varepsilon", "ε*")
    lhs = _cat(ys, _Tex(r"+ \varepsilon", " + ε*"), yd)
    steps = (
        _Step(_t(ys), _t(y), "the function"),
        _Step(lhs, _t(perturbed), PERTURB),
        _Step(_Tex("", ""), _order_form(e0, e1), _expand_label(facts)),
        _Step(lhs, _order_form(e0, e1, big_o=False), DROP),
        _Step(_cat(eps, yd), _cat(eps, _parens(e1)),
              _Tex(rf"\text{{{CANCEL} }} {_t(ys).latex} = {_t(y).latex}",
                   f"{CANCEL} {_t(ys).text} = {_t(y).text}")
              if len(_t(y).text) <= 12 else CANCEL),
        _Step(_t(yd), _t(e1), RENAME),
    )
    title = f"Pushforward of {_t(ys).text} = {_t(y).text}"
    return Pushforward(title, steps, inputs, tangents, y, ys, e1)


def pullback(pf: Pushforward | Any, inputs: Any = None, *, output: str | None = None) -> Pullback:
    """Derive the pullback (VJP) by transposing a pushforward: ``⟨ȳ, ẏ⟩ = Σ ⟨x̄ᵢ, ẋᵢ⟩``.

    Parameters
    ----------
    pf : Pushforward, expression or callable
        A derived pushforward, or a function ``f`` (then ``inputs`` is required and the
        pushforward is derived first).
    inputs : optional
        Inputs of ``f`` when ``pf`` is not a :class:`Pushforward`.
    output : str, optional
        Name of the output (see :func:`pushforward`).

    Returns
    -------
    Pullback
        The steps and ``cotangents`` (``{x: x̄}``), each linear in ``cotangent_out`` (``ȳ``).

    Examples
    --------
    >>> import sympy as sp
    >>> A, x = sp.MatrixSymbol("A", 3, 3), sp.MatrixSymbol("x", 3, 1)
    >>> pb = pullback(A * x, [A, x])
    >>> pb.cotangents[A], pb.cotangents[x]
    (ybar*x.T, A.T*ybar)
    >>> X = sp.MatrixSymbol("X", 3, 3)
    >>> pullback(sp.log(sp.Determinant(X)), X).cotangents[X]
    ybar*X.T**(-1)
    """
    if not isinstance(pf, Pushforward):
        if inputs is None:
            raise DTypeError("adlib.symbolic.pullback: pass a Pushforward, or a function "
                             "and its inputs (pullback(f, inputs)).")
        pf = pushforward(pf, inputs, output=output)
    ys, yd = pf.output_symbol, dot(pf.output_symbol)
    yb = bar(ys)
    ip = inner(yb, pf.tangent_out)
    cot = Cotangents((x, _gradient(ip, xd)) for x, xd in zip(pf.inputs, pf.tangents))
    for x, g in cot.items():
        if any(sp.sympify(g).has(t) for t in _leaves(pf.tangents)):
            raise RuleError(f"adlib.symbolic.pullback: the cotangent of {x} still contains "
                            "a tangent; the pushforward is not linear in the tangents.")
    steps = (
        _Step(_angle(yb, yd), _t(ip), "inner product with ȳ"),
        _Step(_Tex("", ""), _plus([_angle(g, xd) for g, xd in zip(cot.values(), pf.tangents)]),
              "transpose: move everything onto the tangents"),
    ) + tuple(_Step(_t(bar(x)), _t(g), "read off the cotangent") for x, g in cot.items())
    title = f"Pullback of {_t(ys).text} = {_t(pf.output).text}"
    return Pullback(title, steps, pf.inputs, pf.output, yb, cot, pf)


