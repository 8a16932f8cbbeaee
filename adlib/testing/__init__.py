"""Rule checkers: test a derivative against finite differences, never against itself.

* :func:`check_jvp` compares the pushforward with central finite differences
  in a random direction, entry by entry, and checks that it is linear in the
  tangent.
* :func:`check_vjp` runs the dot-product test
  :math:`\\langle \\bar y, \\partial f\\,\\dot x\\rangle = \\langle \\partial f^T\\bar y, \\dot x\\rangle`
  with general random :math:`\\dot x, \\bar y` (the left side by finite differences),
  after checking that the pullback returns one cotangent per input, each with
  its input's shape. Its tolerance comes from the errors actually incurred, so
  a single wrong entry is caught at any size (the design is in the docstring of
  ``adlib.testing.checks``).
* :func:`check_grads` runs both, and recurses for higher orders.
* :mod:`adlib.testing.domains`: check a rule on a structured domain
  (``domain=symmetric``, ...), the idea of ChainRules' ``ProjectTo``.

Random draws are general (no symmetry, no special values): a symmetric seed
can hide a wrong rule.  Inputs must be float64: finite differences in float32
are too coarse to judge a rule.  The primals are always a tuple, ``(x,)`` for
a function of one argument.
"""
from adlib.testing import domains
from adlib.testing.checks import CheckResult, check_grads, check_jvp, check_vjp
from adlib.testing.domains import Domain

__all__ = ["check_jvp", "check_vjp", "check_grads", "CheckResult"]

for _obj in (check_jvp, check_vjp, check_grads, CheckResult):
    _obj.__module__ = __name__      # documented (and shown) under their public path
del _obj
