"""Every error adlib raises, in one hierarchy.

Each class derives from :class:`AdlibError` (catch that to catch anything adlib
raises on purpose) *and* from the builtin exception a Python user would expect,
so ``except ValueError`` keeps working where a ``ValueError`` is natural.
"""
from __future__ import annotations

import numpy as np

__all__ = ["AdlibError", "RuleError", "TracingError", "ShapeError", "DTypeError",
           "UsageError", "MissingRuleError", "UnsupportedError", "SolverError",
           "SingularMatrixError", "CheckFailure"]


class AdlibError(Exception):
    """Base class of every error adlib raises on purpose."""


class RuleError(AdlibError, ValueError):
    """A derivative rule returned something of the wrong number, shape or kind."""


class TracingError(AdlibError, TypeError):
    """A value being differentiated went where adlib cannot follow it."""


class ShapeError(AdlibError, ValueError):
    """Arguments whose shapes or structures do not fit together or do not fit the function.

    Also: ``argnums`` naming an argument the call does not have, a tangent or
    cotangent whose pytree structure differs from its primal's.
    """


class DTypeError(AdlibError, TypeError):
    """An argument of a kind adlib cannot differentiate (integers, complex, objects)."""


class UsageError(AdlibError, TypeError):
    """adlib called the wrong way.

    For example an array where a tuple of primals belongs, a custom function
    used before its rule is registered, a non-scalar function given to ``grad``.
    """


class MissingRuleError(AdlibError, NotImplementedError):
    """A primitive has no JVP or VJP rule for one of its arguments."""


class UnsupportedError(AdlibError, NotImplementedError):
    """A function or an option that adlib does not implement."""


class SolverError(AdlibError, RuntimeError):
    """A numerical solver inside a rule or a primal failed (no convergence, singular)."""


class SingularMatrixError(SolverError, np.linalg.LinAlgError):
    """A matrix that must be invertible for a rule is (numerically) singular."""


class CheckFailure(AdlibError, AssertionError):
    """A rule checker (``adlib.testing``, the dot-product test) found a rule wrong.

    An ``AssertionError``, so test frameworks report it as a failed check.
    """
