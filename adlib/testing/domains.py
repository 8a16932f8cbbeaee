"""Structured domains: check a rule on the subspace its input lives in.

Some functions are only defined, or only meant, on a linear subspace of their
argument's space: a Cholesky factor needs a symmetric matrix, a triangular solve
reads one triangle. A rule for such a function may assume that its tangents lie in
that subspace, and it may return a cotangent that is right only *after projection*
onto it (the part orthogonal to the subspace pairs with no admissible tangent, so
no pairing ⟨x̄, ẋ⟩ can see it). ChainRules.jl makes this explicit with ``ProjectTo``;
here a :class:`Domain` is the orthogonal projector onto the subspace (orthogonal in
the Euclidean inner product of the entries), and the checkers

* draw every random tangent in the domain (``ẋ = P(z)`` for a general draw ``z``),
  so finite differences ``f(x ± εẋ)`` never leave it;
* compare cotangents only through ⟨x̄, ẋ⟩ with such tangents, which equals
  ⟨P(x̄), ẋ⟩: the rule is judged on what the domain can observe;
* refuse a primal point outside the domain.

A rule that is right on the full space passes on every domain; the converse does
not hold, which is the point: a rule checked with ``domain=symmetric`` is
certified for symmetric inputs and symmetric tangents only.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from adlib import tree
from adlib.errors import ShapeError, UsageError

__all__ = ["Domain", "full", "symmetric", "lower_triangular", "upper_triangular",
           "diagonal"]


class Domain:
    """A linear subspace of an argument's space, given by its orthogonal projector.

    Parameters
    ----------
    project
        ``x -> P(x)`` on one array: linear, idempotent and self-adjoint in the
        Euclidean inner product of the entries (an orthogonal projector).
    name
        Used in messages and reprs.
    min_ndim
        Smallest number of dimensions of an array this domain applies to.

    Applied to a pytree, the projector acts on every leaf.
    """

    def __init__(self, project: Callable[[np.ndarray], np.ndarray], name: str,
                 min_ndim: int = 0) -> None:
        self._project = project
        self.name = name
        self.min_ndim = min_ndim

    def project(self, x):
        """``P(x)``, leaf by leaf."""
        return tree.tree_map(self._project_leaf, x)

    __call__ = project

    def _project_leaf(self, leaf):
        leaf = np.asarray(leaf, dtype=float)
        if leaf.ndim < self.min_ndim:
            raise ShapeError(f"domain {self.name} needs arrays with at least {self.min_ndim} "
                             f"dimensions, got shape {leaf.shape}")
        return self._project(leaf)

    def distance(self, x) -> float:
        """Largest entry of ``|x - P(x)|``, relative to the largest entry of ``x``."""
        worst = 0.0
        for leaf in tree.flatten(x)[0]:
            leaf = np.asarray(leaf, dtype=float)
            gap = float(np.max(np.abs(leaf - self._project_leaf(leaf)), initial=0.0))
            worst = max(worst, gap / max(float(np.max(np.abs(leaf), initial=0.0)), 1e-300))
        return worst

    def __repr__(self) -> str:
        return f"Domain({self.name})"


def _sym(x):
    return 0.5 * (x + np.swapaxes(x, -1, -2))


def _square(project):
    def checked(x):
        if x.shape[-1] != x.shape[-2]:
            raise ShapeError(f"this domain needs square matrices (last two axes), "
                             f"got shape {x.shape}")
        return project(x)
    return checked


#: Every array (no constraint): the default.
full = Domain(lambda x: x, "full")
#: Symmetric matrices (last two axes): ``P(X) = (X + Xᵀ)/2``.
symmetric = Domain(_square(_sym), "symmetric", min_ndim=2)
#: Lower-triangular matrices (diagonal included): ``P(X) = tril(X)``.
lower_triangular = Domain(np.tril, "lower_triangular", min_ndim=2)
#: Upper-triangular matrices (diagonal included): ``P(X) = triu(X)``.
upper_triangular = Domain(np.triu, "upper_triangular", min_ndim=2)
#: Diagonal matrices: ``P(X) = diag(diag(X))``.
diagonal = Domain(_square(lambda x: x * np.eye(x.shape[-1])), "diagonal", min_ndim=2)


def resolve(check: str, fname: str, domain, primals: tuple) -> tuple:
    """One :class:`Domain` per primal from the ``domain`` argument of a checker.

    ``domain`` is ``None`` (no constraint), a :class:`Domain` (for a single
    primal), or a sequence with one entry (a Domain or None) per primal.
    """
    n = len(primals)
    if domain is None:
        return (full,) * n
    if isinstance(domain, Domain):
        if n != 1:
            raise UsageError(
                f"{check}({fname}): domain={domain!r} is ambiguous for {n} arguments; pass "
                f"one entry per argument, e.g. domain=({domain.name}, None)")
        domains = (domain,)
    elif not isinstance(domain, Sequence) or isinstance(domain, str) or len(domain) != n or \
            not all(d is None or isinstance(d, Domain) for d in domain):
        raise UsageError(
            f"{check}({fname}): domain must be a Domain (one argument) or a tuple of {n} "
            f"entries, each a Domain from adlib.testing.domains or None; got {domain!r}")
    else:
        domains = tuple(full if d is None else d for d in domain)
    for i, (d, p) in enumerate(zip(domains, primals)):
        if d is not full and d.distance(p) > 1e-12:
            raise ShapeError(
                f"{check}({fname}): argument {i} is not in the domain {d.name} (largest "
                f"relative entry of x - P(x): {d.distance(p):.2e}); check the rule at a "
                f"point of the domain, e.g. adlib.testing.domains.{d.name}(x)")
    return domains
