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

Importing adlib changes one setting of the whole process: on Linux with glibc
it raises malloc's mmap and trim thresholds (:func:`tune_malloc`), which makes
reverse mode on large arrays several times faster; set the environment
variable ``ADLIB_MALLOC_TUNING=0`` before importing adlib to leave the
allocator alone.
"""
from adlib._alloc import tune_malloc
from adlib.errors import (AdlibError, CheckFailure, DTypeError, MissingRuleError, RuleError,
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
           "custom_jvp", "custom_vjp", "linearize", "LinearMap", "dot_product_test",
           "primitive", "defjvp", "defvjp", "nondifferentiable", "Primitive", "tune_malloc",
           "AdlibError", "RuleError", "TracingError", "ShapeError", "DTypeError",
           "UsageError", "MissingRuleError", "UnsupportedError", "SolverError",
           "SingularMatrixError", "CheckFailure"]
__version__ = "0.1.0"

# A process-wide effect, documented on the API page and in the README: raise glibc's
# mmap/trim thresholds (see adlib._alloc; opt out with ADLIB_MALLOC_TUNING=0).
tune_malloc()
