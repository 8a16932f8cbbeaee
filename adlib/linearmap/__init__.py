"""Matrix-free linear maps, inner products, adjoints and the dot-product test.

A :class:`LinearMap` is known only through its *action* ``x -> A x`` (a Python
function) and, optionally, the action of its adjoint ``w -> A† w``. Inputs and
outputs may be arrays of any shape or pytrees (tuples, lists, dicts) of arrays;
example values fix the shapes. :func:`dot_product_test` checks an adjoint
numerically,

.. math:: \\langle w, A x \\rangle_{\\text{out}} = \\langle A^\\dagger w, x \\rangle_{\\text{in}},

for random general ``x`` and ``w``, and :func:`linearize` turns a function at a
point into the linear map ``x_dot -> ∂f(x) x_dot`` whose adjoint is the pullback.

The adjoint action given to :class:`LinearMap` is the adjoint under the
Euclidean inner product (the sum of elementwise products) on both sides, which
is the convention of reverse-mode AD. :meth:`LinearMap.adjoint` with inner
products builds the adjoint under other inner products from it.

One module per idea: ``maps`` (the map and its algebra), ``inner`` (inner
products), ``dot_test`` (the dot-product test, shared with
:func:`adlib.testing.check_vjp`) and ``linearize``.
"""
from adlib.linearmap._spaces import Tree
from adlib.linearmap.dot_test import DotProductResult, dot_product_identity, dot_product_test
from adlib.linearmap.inner import (EuclideanInner, InnerProduct, QuadratureInner, TupleInner,
                                   WeightedInner, euclidean)
from adlib.linearmap.linearize import linearize
from adlib.linearmap.maps import LinearMap

__all__ = [
    "LinearMap",
    "InnerProduct",
    "EuclideanInner",
    "WeightedInner",
    "QuadratureInner",
    "TupleInner",
    "euclidean",
    "DotProductResult",
    "dot_product_identity",
    "dot_product_test",
    "linearize",
]

for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and not isinstance(_obj, InnerProduct):
        _obj.__module__ = __name__  # documented (and shown) under their public path
del _name, _obj
