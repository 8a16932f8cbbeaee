"""Derive pushforward and pullback rules with SymPy, and show every step.

The book derives its rules instead of stating them. This package automates the two
recipes it teaches, so that a notebook cell can display the derivation and check it:

* **Pushforward by perturbation** (:func:`pushforward`): the five steps of Part 3 ch. 1,
  *perturb* (``x → x + ε·ẋ``), *expand*, *drop higher order*, *cancel the primal*,
  *rename δ → dot* (the coefficient of ``ε`` is ``ẏ``). Works for scalar symbols,
  explicit ``sp.Matrix`` inputs and abstract ``sp.MatrixSymbol`` inputs (products do not
  commute). The inverse is expanded by solving ``(X + εẊ)(X⁻¹ + εY) = I`` for ``Y``; the
  determinant uses Jacobi's formula as built-in knowledge, and its derivations say so.
* **Pullback by transposition** (:func:`pullback`): write ``⟨ȳ, ẏ⟩`` and read off
  whatever multiplies each ``ẋ``: it is ``x̄``. A symbol repeated in an explicit matrix
  (a symmetric ``Q``) is one variable: its coefficient is split equally among its
  entries, so ``Q̄`` is symmetric and ``⟨Q̄, Q̇⟩`` counts it once.
* **Implicit functions** ``F(x, y) = 0`` (:func:`implicit_pushforward`,
  :func:`implicit_pullback`): the linear equation for ``ẏ``, and the adjoint equation in
  the book's sign convention (:ref:`adjoint-sign-convention`): ``∂ᵧFᵀ λ = ȳ``, then
  ``x̄ = −∂ₓFᵀ λ``.

Every derivation shows its steps with their names, as HTML rows that fit the page (in a
notebook and on the book's pages), as LaTeX, and as a deterministic text ``repr``.
Derived rules are checked against SymPy's Jacobian of explicit 2×2 and 3×3 matrices
(:func:`verify_pushforward`, :func:`verify_pullback`, the ``verify()`` methods), turned
into ``adlib.numpy`` code (:func:`to_function`, :func:`to_custom_jvp`,
:func:`to_custom_vjp`) and checked numerically with :mod:`adlib.testing`
(:func:`check_numerically`).

Modules: ``notation`` (names, the book's LaTeX), ``expansion`` (first order in ε, inner
products), ``derivation`` (how steps are shown), ``derive`` (pushforward, pullback),
``implicit``, ``verify`` (against SymPy's Jacobian), ``codegen`` (adlib code).
Naming: the tangent of ``x`` is ``xdot`` (LaTeX ``\\dot{x}``), its cotangent ``xbar``
(LaTeX ``\\bar{x}``); the perturbation parameter is :data:`EPS` (``\\varepsilon``, ``ε``
in the text ``repr``). Column vectors are ``n×1`` matrix symbols; the generated code
treats them as 1-D arrays.
"""
from __future__ import annotations

from adlib.symbolic.codegen import (check_numerically, to_custom_jvp, to_custom_vjp,
                                    to_function)
from adlib.symbolic.derivation import Derivation
from adlib.symbolic.derive import Cotangents, Pullback, Pushforward, pullback, pushforward
from adlib.symbolic.expansion import inner
from adlib.symbolic.implicit import (ImplicitPullback, ImplicitPushforward, implicit_pullback,
                                     implicit_pushforward)
from adlib.symbolic.notation import EPS, Variable, bar, dot, latex  # noqa: F401 (Variable)
from adlib.symbolic.verify import verify_pullback, verify_pushforward

__all__ = [
    "EPS", "dot", "bar", "inner", "latex",
    "Derivation", "Pushforward", "Pullback", "ImplicitPushforward", "ImplicitPullback",
    "pushforward", "pullback", "implicit_pushforward", "implicit_pullback",
    "verify_pushforward", "verify_pullback",
    "to_function", "to_custom_jvp", "to_custom_vjp", "check_numerically",
]

# Public objects are documented (API page) and shown under the package's name.
for _name in __all__ + ["Cotangents"]:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and not isinstance(_obj, type(EPS)):
        try:
            _obj.__module__ = __name__
        except (AttributeError, TypeError):  # pragma: no cover - builtins
            pass
del _name, _obj
