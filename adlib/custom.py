"""Custom derivative rules: ``custom_jvp`` and ``custom_vjp`` (JAX's conventions).

The contract, stated plainly:

* A **pushforward** rule receives the primal inputs and one tangent per input
  (in the input space) and returns the primal output and the output tangent
  (in the output space): ``f_jvp(primals, tangents) -> (out, tangent_out)``.
  adlib also uses it for reverse mode, by transposing it: the rule must be
  linear in the tangents and written with :mod:`adlib.numpy` operations.
* A **pullback** rule is split in two: ``f_fwd(*args) -> (out, residuals)``
  runs the primal computation and saves what the backward step needs;
  ``f_bwd(residuals, g) -> tuple`` receives the output cotangent ``g`` (in the
  output space) and returns one cotangent per differentiable input (in that
  input's space), ``None`` meaning zero.

Arguments listed in ``nondiff_argnums`` are not differentiated; they are passed
first to the rules, as in JAX.
"""
from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Sequence

from adlib import tree
from adlib.api import _zeros
from adlib.engine import JVPBox, Node, VJPBox, _BOX_TYPES, _describe, shape_of
from adlib.errors import RuleError, TracingError, UsageError

__all__ = ["custom_jvp", "custom_vjp", "BothModes", "CustomCall", "has_box", "top_level"]


@dataclass
class CustomCall:
    """What one call of a custom-rule function keeps (``Node.custom``).

    Read by the graph tools and by :func:`adlib.observe.saved_arrays`.

    Parameters
    ----------
    kind
        ``'custom_jvp'`` or ``'custom_vjp'``.
    rule
        The :class:`custom_jvp` / :class:`custom_vjp` object that was called.
    residuals
        custom_vjp: what the forward rule saved for the backward rule.
    nondiff, primals, primal_leaves, td, boxed_idx
        custom_jvp: the non-differentiated arguments, the primal inputs (as
        passed, and flattened with their treedef) and which leaves are traced;
        enough to re-run the JVP rule on any tangent.
    """

    kind: str
    rule: Any
    residuals: Any = None
    nondiff: Sequence = ()
    primals: tuple = ()
    primal_leaves: list = field(default_factory=list)
    td: Any = None
    boxed_idx: list = field(default_factory=list)


def top_level(x: Any) -> tuple[int, type | None]:
    """The highest trace level among the leaves of pytree ``x``, and its box type."""
    top, kind = 0, None
    for leaf in tree.flatten(x)[0]:
        if type(leaf) in _BOX_TYPES and leaf.level > top:
            top, kind = leaf.level, type(leaf)
    return top, kind


def has_box(x: Any) -> bool:
    """Whether any leaf of pytree ``x`` is being differentiated."""
    return any(type(leaf) in _BOX_TYPES for leaf in tree.flatten(x)[0])


def _check_no_leak(fn_name: str, what: str, value: Any, level: int) -> None:
    """A rule that closes over a value being differentiated leaks its box."""
    for leaf in tree.flatten(value)[0]:
        x = leaf
        while type(x) in _BOX_TYPES:
            if x.level >= level:
                raise TracingError(
                    f"the {what} of '{fn_name}' closes over a value that is being "
                    f"differentiated ({_describe(x)}), so its derivative would be lost. "
                    f"Pass that value to '{fn_name}' as an argument instead of capturing "
                    f"it from an enclosing scope.")
            x = x.value


class _Custom:
    """What custom_jvp and custom_vjp share: argument bookkeeping."""

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)

    @property
    def name(self) -> str:
        return getattr(self.fun, "__name__", "custom function")

    def _split(self, args):
        nd = tuple(a % len(args) for a in self.nondiff_argnums)
        for a in nd:
            if has_box(args[a]):
                raise TracingError(
                    f"argument {a} of '{self.name}' is listed in nondiff_argnums but is "
                    f"being differentiated. Remove it from nondiff_argnums (and give the "
                    f"rule a cotangent for it), or stop differentiating with respect to it.")
        diff = [i for i in range(len(args)) if i not in nd]
        return [args[a] for a in nd], diff

    def _unwrap(self, args) -> _Unwrapped | None:
        """A call seen at its top trace level, or ``None`` if nothing is traced."""
        nondiff, diff = self._split(args)
        diff_args = [args[i] for i in diff]
        leaves, td = tree.flatten(diff_args)
        level, kind = top_level(leaves)
        if not level:
            return None
        primal_leaves = [x.value if type(x) in _BOX_TYPES and x.level == level else x
                         for x in leaves]
        primals = tuple(tree.unflatten(td, primal_leaves))
        full = list(args)
        for i, p in zip(diff, primals):
            full[i] = p
        return _Unwrapped(nondiff, diff, diff_args, leaves, td, level, kind,
                          primal_leaves, primals, full)


class _Unwrapped(NamedTuple):
    """A custom function's call on traced arguments, unwrapped at the top level."""

    nondiff: list         # the arguments listed in nondiff_argnums
    diff: list            # positions of the differentiable arguments
    diff_args: list       # those arguments, as passed
    leaves: list          # their flattened leaves (boxes where traced)
    td: Any               # the treedef of diff_args
    level: int            # the top trace level
    kind: type            # its box type (JVPBox or VJPBox)
    primal_leaves: list   # leaves with the top level's boxes unwrapped
    primals: tuple        # diff_args rebuilt from primal_leaves
    full: list            # the call's arguments with primals in place


def _outputs(out, level, boxes_for):
    leaves, td = tree.flatten(out)
    return tree.unflatten(td, boxes_for(leaves))


# ---------------------------------------------------------------- custom_jvp ----
class custom_jvp(_Custom):
    """Give a function a hand-written pushforward rule.

    Examples
    --------
    >>> import adlib as ad, adlib.numpy as anp
    >>> @ad.custom_jvp
    ... def f(x, y):
    ...     return y * anp.sin(x)
    >>> @f.defjvp
    ... def f_jvp(primals, tangents):
    ...     (x, y), (xdot, ydot) = primals, tangents
    ...     return f(x, y), y * anp.cos(x) * xdot + anp.sin(x) * ydot
    """

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        super().__init__(fun, nondiff_argnums)
        self.jvp: Callable | None = None

    def defjvp(self, jvp: Callable) -> Callable:
        """Register ``jvp(*nondiff, primals, tangents) -> (out, tangent_out)``."""
        self.jvp = jvp
        return jvp

    def defjvps(self, *rules: Callable | None) -> None:
        """Register one tangent rule per argument, JAX's ``defjvps``.

        ``rule_i(x_dot, primal_out, *primals)`` returns the output tangent
        contributed by argument ``i`` alone (linear in ``x_dot``); ``None``
        means the output does not depend on that argument.  The contributions
        are summed.

        Examples
        --------
        >>> import adlib as ad, adlib.numpy as anp
        >>> @ad.custom_jvp
        ... def f(x, y):
        ...     return y * anp.sin(x)
        >>> f.defjvps(lambda x_dot, out, x, y: y * anp.cos(x) * x_dot,
        ...           lambda y_dot, out, x, y: anp.sin(x) * y_dot)
        """
        if self.nondiff_argnums:
            raise UsageError(f"custom_jvp function '{self.name}': defjvps cannot be used "
                             f"with nondiff_argnums; use defjvp")
        name = self.name

        def jvp_from_rules(primals, tangents):
            if len(rules) != len(primals):
                raise RuleError(f"'{name}' was called with {len(primals)} argument(s) but "
                                f"defjvps received {len(rules)} rule(s); give one per "
                                f"argument (None where the output does not depend on it)")
            out = self(*primals)
            total = None
            for rule, t in zip(rules, tangents):
                if rule is None:
                    continue
                term = rule(t, out, *primals)
                total = term if total is None else tree.tree_map(operator.add, total, term)
            if total is None:
                total = tree.tree_map(_zeros, out)
            return out, total

        jvp_from_rules.__name__ = f"{name}_jvps"
        self.jvp = jvp_from_rules

    def __call__(self, *args):
        if self.jvp is None:
            raise UsageError(f"custom_jvp function '{self.name}' has no rule yet: "
                            f"register one with @{self.name}.defjvp")
        call = self._unwrap(args)
        if call is None:
            return self.fun(*args)
        nondiff, _, _, leaves, td, level, kind, primal_leaves, primals, full = call
        if kind is JVPBox:
            tan_leaves = [x.tangent if type(x) is JVPBox and x.level == level else _zeros(x)
                          for x in leaves]
            tangents = tuple(tree.unflatten(td, tan_leaves))
            out, t_out = self._run_rule(nondiff, primals, tangents, level)
            ts, _ = tree.flatten(t_out)
            return _outputs(out, level, lambda ys: [JVPBox(y, level, t) for y, t in zip(ys, ts)])
        # reverse mode: transpose the pushforward (it is linear in the tangents)
        out = self(*full)
        _check_no_leak(self.name, "function", out, level)
        out_leaves, out_td = tree.flatten(out)
        boxed_idx = [k for k, x in enumerate(leaves) if type(x) is VJPBox and x.level == level]
        rule = self

        def transposed_jvp_pullback(gs):
            from adlib.api import vjp
            gs = [_zeros(y) if g is None else g for g, y in zip(gs, out_leaves)]

            def tangent_map(*tans):
                tl = [_zeros(x) for x in primal_leaves]
                for k, t in zip(boxed_idx, tans):
                    tl[k] = t
                return tree.flatten(rule._run_rule(nondiff, primals,
                                                   tuple(tree.unflatten(td, tl)), 0)[1])[0]
            _, pull = vjp(tangent_map, *[_zeros(primal_leaves[k]) for k in boxed_idx])
            return list(pull(gs))

        info = CustomCall("custom_jvp", self, nondiff=nondiff, primals=primals,
                          primal_leaves=primal_leaves, td=td, boxed_idx=boxed_idx)
        return _multi_output(self.name, out_leaves, out_td, level,
                             [leaves[k].node for k in boxed_idx], transposed_jvp_pullback, info)

    def _run_rule(self, nondiff, primals, tangents, level):
        res = self.jvp(*nondiff, primals, tangents)
        if not (isinstance(res, tuple) and len(res) == 2):
            raise RuleError(f"the JVP rule of '{self.name}' must return a pair "
                            f"(primal_out, tangent_out), got {type(res).__name__}")
        out, t_out = res
        if level:
            _check_no_leak(self.name, "JVP rule", out, level)
        o_leaves, o_td = tree.flatten(out)
        t_leaves, t_td = tree.flatten(t_out)
        if o_td != t_td:
            raise RuleError(f"the JVP rule of '{self.name}' returned a tangent with "
                            f"structure {t_td!r} for an output with structure {o_td!r}")
        for k, (y, t) in enumerate(zip(o_leaves, t_leaves)):
            if shape_of(y) != shape_of(t):
                raise RuleError(f"the JVP rule of '{self.name}' returned a tangent of shape "
                                f"{shape_of(t)} for output leaf {k} of shape {shape_of(y)}; "
                                f"a tangent must have its output's shape")
        return out, t_out


def _multi_output(name, out_leaves, out_td, level, parents, pullback, info):
    """Box the outputs of a custom call as one node (plus one per extra output)."""
    if len(out_leaves) == 1:
        node = Node(name, None, (), {}, out_leaves[0], (), parents,
                    pullback=lambda g: pullback([g]), custom=info)
        return tree.unflatten(out_td, [VJPBox(out_leaves[0], level, node)])
    call = Node(name, None, (), {}, tuple(out_leaves), (), parents, pullback=pullback,
                n_out=len(out_leaves), custom=info)
    n = len(out_leaves)
    boxes = []
    for k, y in enumerate(out_leaves):
        def select(g, k=k):
            gs = [None] * n
            gs[k] = g
            return [gs]
        boxes.append(VJPBox(y, level, Node(f"{name}[{k}]", None, (), {}, y, (), [call],
                                           pullback=select)))
    return tree.unflatten(out_td, boxes)


# ---------------------------------------------------------------- custom_vjp ----
class custom_vjp(_Custom):
    """Give a function a hand-written pullback rule (reverse mode only).

    Examples
    --------
    >>> import adlib as ad, adlib.numpy as anp
    >>> @ad.custom_vjp
    ... def f(x, y):
    ...     return y * anp.sin(x)
    >>> def f_fwd(x, y):
    ...     return f(x, y), (x, y)
    >>> def f_bwd(res, g):
    ...     x, y = res
    ...     return y * anp.cos(x) * g, anp.sin(x) * g
    >>> f.defvjp(f_fwd, f_bwd)
    """

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        super().__init__(fun, nondiff_argnums)
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        """Register ``fwd(*args) -> (out, residuals)`` and ``bwd(*nondiff, residuals, g)``."""
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args):
        if self.fwd is None:
            raise UsageError(f"custom_vjp function '{self.name}' has no rule yet: "
                            f"register one with {self.name}.defvjp(fwd, bwd)")
        call = self._unwrap(args)
        if call is None:
            return self.fun(*args)
        nondiff, diff, diff_args, leaves, td, level, kind, primal_leaves, primals, full = call
        if kind is JVPBox:
            raise TracingError(
                f"cannot push a tangent forward through '{self.name}': it is a custom_vjp "
                f"function, which has a reverse-mode rule only. Use reverse mode (ad.vjp, "
                f"ad.grad, ad.jacrev), or define it with ad.custom_jvp instead: adlib "
                f"transposes a custom JVP rule for reverse mode, so one rule serves both.")
        res = self.fwd(*full)
        if not (isinstance(res, tuple) and len(res) == 2):
            raise RuleError(f"the forward rule of '{self.name}' must return a pair "
                            f"(primal_out, residuals), got {type(res).__name__}")
        out, residuals = res
        _check_no_leak(self.name, "forward rule", (out, residuals), level)
        out_leaves, out_td = tree.flatten(out)
        boxed_idx = [k for k, x in enumerate(leaves) if type(x) is VJPBox and x.level == level]
        arg_defs = [tree.flatten(a)[1] for a in diff_args]
        bwd = self.bwd
        name = self.name
        bwd_name = getattr(bwd, "__name__", "bwd")

        def custom_vjp_pullback(gs):
            gs = [_zeros(y) if g is None else g for g, y in zip(gs, out_leaves)]
            cts = bwd(*nondiff, residuals, tree.unflatten(out_td, gs))
            if not isinstance(cts, (tuple, list)):
                cts = (cts,) if len(diff) == 1 else cts
            if not isinstance(cts, (tuple, list)) or len(cts) != len(diff):
                got = len(cts) if isinstance(cts, (tuple, list)) else type(cts).__name__
                raise RuleError(
                    f"the pullback '{bwd_name}' of '{name}' returned {got} cotangent(s), "
                    f"but '{name}' has {len(diff)} differentiable input(s) (arguments "
                    f"{', '.join(map(str, diff))}). Return a tuple with one cotangent per "
                    f"differentiable input, in order, using None for a zero cotangent.")
            ct_leaves = []
            for j, (i, ct, a_def) in enumerate(zip(diff, cts, arg_defs)):
                if ct is None:
                    ct_leaves.extend([None] * a_def.num_leaves)
                    continue
                lv, ctd = tree.flatten(ct)
                if ctd != a_def:
                    raise RuleError(f"the pullback '{bwd_name}' of '{name}' returned a "
                                    f"cotangent with structure {ctd!r} for argument {i}, "
                                    f"which has structure {a_def!r}")
                ct_leaves.extend(lv)
            for k, (x, c) in enumerate(zip(leaves, ct_leaves)):
                if c is not None and shape_of(c) != shape_of(x):
                    i = _arg_of_leaf(k, arg_defs, diff)
                    raise RuleError(
                        f"the pullback '{bwd_name}' of '{name}' returned a cotangent of "
                        f"shape {shape_of(c)} for argument {i}, which has shape "
                        f"{shape_of(x)}. A cotangent must have the shape of its input "
                        f"(did you forget to sum over a broadcast axis, or build a scalar "
                        f"where an outer product belongs?).")
            return [ct_leaves[k] for k in boxed_idx]

        return _multi_output(self.name, out_leaves, out_td, level,
                             [leaves[k].node for k in boxed_idx], custom_vjp_pullback,
                             CustomCall("custom_vjp", self, residuals=residuals))


def _arg_of_leaf(k, arg_defs, diff):
    for i, d in zip(diff, arg_defs):
        if k < d.num_leaves:
            return i
        k -= d.num_leaves
    return "?"


# ---------------------------------------------------------------- both modes ----
class BothModes:
    """A function with a dedicated rule for each mode.

    :class:`custom_jvp` serves reverse mode by transposing the pushforward,
    and :class:`custom_vjp` serves reverse mode only.  For a solve, a
    hand-written pullback is better than a transposed pushforward (it solves
    with the transpose directly), so this object holds one of each and picks
    the one that matches the innermost transformation: a forward-mode value
    goes to the ``custom_jvp``, a reverse-mode value to the ``custom_vjp``.
    Undifferentiated calls run ``fun`` itself.  Used by :mod:`adlib.implicit`
    and :mod:`adlib.qp`.

    Parameters
    ----------
    fun
        The function on plain values.
    jvp_rule
        ``jvp_rule(primals, tangents) -> (out, tangent_out)``, as for
        :meth:`custom_jvp.defjvp`.
    fwd, bwd
        The pair given to :meth:`custom_vjp.defvjp`.
    name
        Name used in errors and graphs.
    """

    def __init__(self, fun: Callable, jvp_rule: Callable, fwd: Callable, bwd: Callable,
                 name: str):
        fun.__name__ = name
        self.fun = fun
        self.forward = custom_jvp(fun)
        self.forward.defjvp(jvp_rule)
        self.reverse = custom_vjp(fun)
        self.reverse.defvjp(fwd, bwd)

    def __call__(self, *args):
        _, kind = top_level(args)
        if kind is None:
            return self.fun(*args)
        return (self.forward if kind is JVPBox else self.reverse)(*args)
