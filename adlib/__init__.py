"""adlib: a small automatic-differentiation library for learning to write rules.

Forward mode (:func:`jvp`) and reverse mode (:func:`vjp`) on NumPy arrays,
derivatives of any order, custom rules with JAX's conventions
(:class:`custom_jvp`, :class:`custom_vjp`) and rule checkers
(:mod:`adlib.testing`).  Write the functions you differentiate with
:mod:`adlib.numpy`::

    import adlib as ad
    import adlib.numpy as anp

    y, ydot = ad.jvp(anp.sin, (0.5,), (1.0,))
    g = ad.grad(lambda x: anp.sum(x ** 2))(np.ones(3))
"""
from adlib._alloc import tune_malloc as _tune_malloc
from adlib.errors import (AdlibError, DTypeError, MissingRuleError, RuleError,
                          ShapeError, SingularMatrixError, SolverError, TracingError,
                          UnsupportedError, UsageError)
from adlib.engine import Primitive, defjvp, defvjp, nondifferentiable, primitive
from adlib.api import grad, hessian, jacfwd, jacrev, jvp, value_and_grad, vjp
from adlib.custom import custom_jvp, custom_vjp
from adlib.linearmap import LinearMap, dot_product_test, linearize
from adlib import numpy  # noqa: F401  (adlib.numpy)
from adlib import testing  # noqa: F401
from adlib import observe  # noqa: F401

__all__ = ["jvp", "vjp", "grad", "value_and_grad", "jacfwd", "jacrev", "hessian",
           "custom_jvp", "custom_vjp", "linearize", "LinearMap", "dot_product_test", "primitive", "defjvp", "defvjp",
           "nondifferentiable", "Primitive", "observe",
           "AdlibError", "RuleError", "TracingError", "ShapeError", "DTypeError",
           "UsageError", "MissingRuleError", "UnsupportedError", "SolverError", "SingularMatrixError"]
__version__ = "0.1.0"

_tune_malloc()
