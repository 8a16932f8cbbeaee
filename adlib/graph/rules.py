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
        if per_arg is None:                       # not declared: assume everything
            per_arg = tuple(range(n_args)) + (ANS,)
        for item in per_arg:
            if item not in items:
                items.append(item)
    items.sort(key=lambda it: (it == ANS, it if it != ANS else 0))
    return items


def custom_record(en):
    """The :class:`~adlib.custom.CustomCall` of a custom-rule node (``None`` if unknown)."""
    return en.custom
