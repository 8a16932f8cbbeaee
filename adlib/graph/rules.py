"""What the graph tools ask of the rules, through the engine's one dispatch path.

Nothing here knows a rule: the JVP term of an argument is
:meth:`Primitive.jvp_term <adlib.engine.Primitive.jvp_term>`, what a VJP rule
reads is declared where the rule is registered (``defvjp(..., reads=...)``,
read back with :meth:`Primitive.vjp_reads <adlib.engine.Primitive.vjp_reads>`),
and a custom rule's call is described by its
:class:`~adlib.custom.CustomCall` record.
"""
from __future__ import annotations

from typing import Any

from adlib.engine import ANS

__all__ = ["ANS", "jvp_term", "reads", "custom_record"]


def jvp_term(en, i: int, t: Any) -> Any:
    """The term argument ``i`` (tangent ``t``) contributes to engine node ``en``'s tangent."""
    return en.prim.jvp_term(i, t, en.ans, en.args, en.kwargs)


def reads(node) -> list:
    """What the VJP rules of an op node read, for its traced arguments.

    Argument positions and/or :data:`~adlib.engine.ANS`, in that order; for a
    rule that declares nothing, all arguments and the answer (which is what
    the engine's ``Node`` keeps anyway).
    """
    en = node.node
    n_args = len(en.args)
    items: list = []
    for i in node.argnums:
        per_arg = en.prim.vjp_reads(i, n_args)
        if per_arg is None:
            per_arg = _transitional(en.prim, i, n_args)
        for item in per_arg:
            if item not in items:
                items.append(item)
    items.sort(key=lambda it: (it == ANS, it if it != ANS else 0))
    return items


def custom_record(en):
    """The :class:`~adlib.custom.CustomCall` of a custom-rule node (``None`` if unknown)."""
    return en.custom


# TRANSITIONAL, until every registration declares reads=: remove then.
_TRANSITIONAL: dict[str, tuple] = {
    # name: (what the VJP rule for argument 0 reads, for argument 1, ...).
    # Integers are argument positions, ANS the answer.  Shapes, axes and
    # indices are metadata, always available, not counted as stored values.
    # -- elementwise, binary
    "add": ((), ()),
    "subtract": ((), ()),
    "multiply": ((1,), (0,)),                 # xbar = g*y, ybar = x*g
    "divide": ((1,), (1, ANS)),               # xbar = g/y, ybar = -g*ans/y
    "power": ((0, 1), (0, ANS)),              # g*y*x**(y-1), g*ans*log(x)
    "maximum": ((0, 1, ANS), (0, 1, ANS)),    # where x (or y) won
    "minimum": ((0, 1, ANS), (0, 1, ANS)),
    "where": (None, (0,), (0,)),              # the condition decides
    # -- elementwise, unary
    "negative": ((),),
    "exp": ((ANS,),), "expm1": ((ANS,),), "sqrt": ((ANS,),), "reciprocal": ((ANS,),),
    "tan": ((ANS,),), "tanh": ((ANS,),),
    "log": ((0,),), "log1p": ((0,),), "square": ((0,),), "sin": ((0,),), "cos": ((0,),),
    "arcsin": ((0,),), "arccos": ((0,),), "arctan": ((0,),), "sinh": ((0,),),
    "cosh": ((0,),), "abs": ((0,),), "clip": ((0, 1, 2),),
    # -- reductions
    "sum": ((),), "prod": ((0, ANS),), "max": ((0, ANS),), "min": ((0, ANS),),
    # -- shape and indexing: linear maps, their adjoints need no values
    "reshape": ((),), "transpose": ((),), "swapaxes": ((),), "expand_dims": ((),),
    "squeeze": ((),), "broadcast_to": ((),), "getitem": ((),), "untake": ((),),
    "triu": ((),), "tril": ((),), "flip": ((),), "diag": ((),), "trace": ((),),
    "concatenate": "none", "stack": "none",
    # -- products
    "matmul": ((1,), (0,)),                   # Abar = g B^T, Bbar = A^T g
    "einsum": "others",                       # each operand's rule reads the others
    # -- linear algebra
    "inv": ((ANS,),),                         # Abar = -Y^T g Y^T
    "solve": ((1, ANS), None, (1,)),          # reuses the LU factors (argument 1)
    "solve_T": ((1, ANS), None, (1,)),
    "det": ((0, ANS),), "logabsdet": ((0,),),
    "cholesky": ((ANS,),),
    "norm": ((0, ANS),), "spectral_norm": ((0,),),
}


def _transitional(prim, i, n_args):
    entry = _TRANSITIONAL.get(prim.name)
    if entry is None:
        return tuple(range(n_args)) + (ANS,)
    if entry == "none":
        return ()
    if entry == "others":
        return tuple(j for j in range(1, n_args) if j != i)
    return entry[i] if i < len(entry) and entry[i] is not None else ()
