"""The engine: traced values ("boxes"), primitives and the two passes.

Rule API (one dispatch path for engine, graph and tests)::

    prim.jvp_term(i, tangent, ans, args, kwargs)  # d out from argument i (any primitive)
    prim.jvp_sum(tangents, ans, args, kwargs)     # tangents aligned with args, None =
                                                  # untraced; the summed output tangent
    prim.vjp_term(i, g, ans, args, kwargs)        # cotangent of argument i
    prim.has_jvp(i), prim.has_vjp(i)              # is a rule registered for argument i?
    defvjp(prim, *rules, reads=[(0,), (ANS,)])    # what each VJP rule reads
    prim.vjp_reads(i, n_args)                     # -> tuple of positions / ANS, or None
                                                  #    (None: not declared)
A missing rule raises MissingRuleError (AdlibError + NotImplementedError).
Custom-rule nodes carry ``Node.custom``: an ``adlib.custom.CustomCall`` record.

How it works, in one screen:

* Each call of a transformation (``jvp``, ``vjp``) opens a new *trace level*,
  a number larger than every level opened before.  Its inputs are wrapped in
  boxes that carry that level: a :class:`JVPBox` holds a tangent next to the
  value (forward mode), a :class:`VJPBox` holds the :class:`Node` that made
  the value (reverse mode).
* A :class:`Primitive` is a NumPy function plus its derivative rules.  When
  called, it looks for the box with the highest level among its arguments,
  unwraps that level only, calls itself again on the unwrapped values (lower
  levels are handled by the recursion), and wraps the answer at that level:
  with a tangent computed by the JVP rules, or with a node that remembers the
  arguments for the VJP rules.  Because levels are compared, the same function
  can be differentiated at two levels without mixing up perturbations.
* Rules are written with ``adlib.numpy`` functions, which are primitives too,
  so a rule can be differentiated again (higher order).
* :func:`backward` walks the nodes of a reverse trace in reverse topological
  order and accumulates cotangents (a value used twice receives the sum).
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Sequence

import numpy as np

from adlib.errors import AdlibError, MissingRuleError, RuleError, TracingError, UsageError

__all__ = ["Primitive", "primitive", "defjvp", "defvjp", "nondifferentiable",
           "JVPBox", "VJPBox", "Box", "Node", "new_level", "backward",
           "AdlibError", "RuleError", "TracingError", "MissingRuleError", "shape_of",
           "ANS", "OTHERS"]

ANS = "ans"
"""In ``defvjp(..., reads=...)``: the rule reads the primitive's answer."""
OTHERS = "others"
"""In ``defvjp(..., reads=...)`` of a varargs primitive: the rule for each
argument reads every other argument."""


# ---------------------------------------------------------------- levels ----
_levels = itertools.count(1)


def new_level() -> int:
    """Open a new trace level, higher than every level opened before."""
    return next(_levels)


# ----------------------------------------------------------------- boxes ----
class Box:
    """A value being differentiated at one trace level.

    Generic: a value, a level, the value's metadata (``shape``, ``ndim``,
    ``size``, ``dtype``), comparisons on the primal values and refusals of
    conversions that would drop the derivative.  The array protocol
    (operators, indexing, ``.T``, ndarray methods, ``__array_ufunc__``) is
    added by ``adlib.numpy._boxes`` through :func:`extend_box`.
    """

    __slots__ = ("value", "level")

    shape = property(lambda self: shape_of(self.value))
    ndim = property(lambda self: len(shape_of(self.value)))
    size = property(lambda self: int(np.prod(shape_of(self.value))))
    dtype = property(lambda self: _dtype(self.value))

    def __len__(self) -> int:
        return len(self.value)

    def __bool__(self) -> bool:
        return bool(self.value)

    def __format__(self, spec: str) -> str:
        return format(_primal(self.value), spec)

    def __float__(self):
        raise TracingError(_conversion_message("float"))

    def __int__(self):
        raise TracingError(_conversion_message("int"))

    def __complex__(self):
        raise TracingError(_conversion_message("complex"))

    # comparisons are not differentiable: they return plain boolean arrays
    def __lt__(self, o): return _primal(self) < _primal(o)
    def __le__(self, o): return _primal(self) <= _primal(o)
    def __gt__(self, o): return _primal(self) > _primal(o)
    def __ge__(self, o): return _primal(self) >= _primal(o)
    def __eq__(self, o): return _primal(self) == _primal(o)
    def __ne__(self, o): return _primal(self) != _primal(o)
    __hash__ = object.__hash__


def extend_box(members: type) -> None:
    """Add the members of class ``members`` to :class:`Box` (an array protocol)."""
    for name, value in vars(members).items():
        if name not in ("__module__", "__qualname__", "__doc__", "__dict__",
                        "__weakref__", "__slots__"):
            setattr(Box, name, value)


class JVPBox(Box):
    """A value and its tangent, at one forward-mode trace level."""

    __slots__ = ("tangent",)

    def __init__(self, value, level, tangent):
        self.value, self.level, self.tangent = value, level, tangent

    def __repr__(self) -> str:
        return f"JVPBox({_primal(self.value)!r}, tangent={_primal(self.tangent)!r})"


class VJPBox(Box):
    """A value and the node that produced it, at one reverse-mode trace level."""

    __slots__ = ("node",)

    def __init__(self, value, level, node):
        self.value, self.level, self.node = value, level, node

    def __repr__(self) -> str:
        return f"VJPBox({_primal(self.value)!r}, from={self.node.name})"


_BOX_TYPES = (JVPBox, VJPBox)

def shape_of(x) -> tuple:
    """``np.shape`` that also accepts boxes (NumPy's own would refuse them)."""
    while type(x) in _BOX_TYPES:
        x = x.value
    return x.shape if type(x) is np.ndarray else np.shape(x)


def _primal(x):
    """Strip every level of boxing."""
    while type(x) in _BOX_TYPES:
        x = x.value
    return x


def _dtype(x):
    x = _primal(x)
    return x.dtype if hasattr(x, "dtype") else np.result_type(x)


def _conversion_message(kind: str) -> str:
    return (f"{kind}() of a value being differentiated would drop its derivative. Keep it "
            f"as an array (use adlib.numpy operations), or compute it outside the function "
            f"you differentiate.")


def _describe(x) -> str:
    x = _primal(x)
    shape = np.shape(x)
    dt = _dtype(x)
    return f"{dt}[{', '.join(map(str, shape))}]" if shape else f"{dt} scalar"


# ----------------------------------------------------------------- nodes ----
_node_seq = itertools.count()


class Node:
    """One recorded operation of a reverse-mode trace.

    ``parents`` are the nodes of the boxed arguments (``argnums`` says which
    argument each one is); ``args``/``kwargs``/``ans`` are what the forward
    pass stored for the VJP rules -- the *residuals* of reverse mode.  Custom
    rules set ``pullback`` instead of ``prim``, and ``custom``: an
    :class:`adlib.custom.CustomCall` record of what the call keeps.
    """

    __slots__ = ("name", "prim", "args", "kwargs", "ans", "argnums", "parents",
                 "pullback", "n_out", "seq", "custom", "__weakref__")

    def __init__(self, name, prim, args, kwargs, ans, argnums, parents,
                 pullback=None, n_out=1, custom=None):
        self.seq = next(_node_seq)   # creation order: a topological order
        self.custom = custom         # for custom rules: a CustomCall record
        self.name, self.prim, self.args, self.kwargs = name, prim, args, kwargs
        self.ans, self.argnums, self.parents = ans, argnums, parents
        self.pullback, self.n_out = pullback, n_out

    def cotangents(self, g) -> list:
        """The cotangents of this node's parents, given its own cotangent."""
        if self.pullback is not None:
            return self.pullback(g)
        prim, args, kwargs, ans = self.prim, self.args, self.kwargs, self.ans
        return [prim.vjp_term(i, g, ans, args, kwargs) for i in self.argnums]

    def __repr__(self) -> str:
        return f"Node({self.name})"


def leaf_node(name: str = "input") -> Node:
    """A node with no parents: an input of a reverse trace."""
    return Node(name, None, (), {}, None, (), ())


# ------------------------------------------------------------ primitives ----
class Primitive:
    """A NumPy-level function with registered derivative rules.

    Parameters
    ----------
    fun
        The function on plain NumPy values.
    name
        Name used in errors and in drawn graphs.
    varargs
        Whether the function takes any number of array arguments (``stack``,
        ``einsum``).  Then one VJP rule serves them all and receives the
        argument's index first, ``rule(i, g, ans, *args, **kw)``, and one JVP
        rule receives the list of all tangents (``None`` for arguments not
        being differentiated), ``rule(tangents, ans, *args, **kw)``.
    differentiable
        ``False`` for functions whose output carries no derivative.

    Notes
    -----
    ``jvp : (T a, b, *a) -> T b`` per argument: a JVP rule receives the
    argument's tangent, the answer and the arguments.
    ``vjp : (T* b, b, *a) -> T* a`` per argument: a VJP rule receives the
    cotangent of the answer, the answer and the arguments.
    Call rules through :meth:`jvp_term`, :meth:`jvp_sum` and :meth:`vjp_term`,
    which hide the difference between fixed and varargs primitives.
    """

    def __init__(self, fun: Callable, name: str | None = None, varargs: bool = False,
                 differentiable: bool = True):
        self.fun = fun
        self.name = name or fun.__name__
        self.jvps: list = []
        self.vjps: list = []
        self.reads: tuple | None = None
        self.varargs = varargs
        self.differentiable = differentiable
        self.__doc__ = fun.__doc__
        self.__wrapped__ = fun

    def __repr__(self) -> str:
        return f"<adlib primitive {self.name}>"

    @property
    def __name__(self) -> str:
        return self.name

    # -- rule dispatch: the one place that knows how a rule is called ------
    def has_jvp(self, i: int) -> bool:
        """Whether a JVP rule is registered for argument ``i``."""
        jvps = self.jvps
        if self.varargs:
            return bool(jvps) and jvps[0] is not None
        return i < len(jvps) and jvps[i] is not None

    def has_vjp(self, i: int) -> bool:
        """Whether a VJP rule is registered for argument ``i``."""
        vjps = self.vjps
        if self.varargs:
            return bool(vjps) and vjps[0] is not None
        return i < len(vjps) and vjps[i] is not None

    def _missing(self, mode: str, i: int) -> MissingRuleError:
        other = "reverse" if mode == "JVP" else "forward"
        return MissingRuleError(
            f"adlib has no {mode} rule for argument {i} of '{self.name}'. Register one "
            f"with adlib.def{mode.lower()}, or differentiate in {other} mode.")

    def jvp_term(self, i: int, tangent, ans, args: Sequence, kwargs: dict):
        """The output tangent contributed by argument ``i`` alone."""
        if self.varargs:
            tangents = [None] * len(args)
            tangents[i] = tangent
            return self.jvp_sum(tangents, ans, args, kwargs)
        jvps = self.jvps
        rule = jvps[i] if i < len(jvps) else None
        if rule is None:
            raise self._missing("JVP", i)
        return rule(tangent, ans, *args, **kwargs)

    def jvp_sum(self, tangents: Sequence, ans, args: Sequence, kwargs: dict):
        """The output tangent; ``tangents`` has one entry per argument (``None``: untraced)."""
        if self.varargs:   # one rule sees every tangent at once
            jvps = self.jvps
            if not jvps or jvps[0] is None:
                raise self._missing("JVP", next(i for i, t in enumerate(tangents)
                                                if t is not None))
            return jvps[0](tangents, ans, *args, **kwargs)
        t = None
        for i, ti in enumerate(tangents):
            if ti is not None:
                term = self.jvp_term(i, ti, ans, args, kwargs)
                t = term if t is None else t + term
        return t

    def vjp_term(self, i: int, g, ans, args: Sequence, kwargs: dict):
        """The cotangent of argument ``i`` given the cotangent ``g`` of the answer."""
        vjps = self.vjps
        if self.varargs:
            if not vjps or vjps[0] is None:
                raise self._missing("VJP", i)
            return vjps[0](i, g, ans, *args, **kwargs)
        rule = vjps[i] if i < len(vjps) else None
        if rule is None:
            raise self._missing("VJP", i)
        return rule(g, ans, *args, **kwargs)

    def vjp_reads(self, i: int, n_args: int | None = None) -> tuple | None:
        """What the VJP rule for argument ``i`` reads from the forward pass.

        Argument positions and/or ``adlib.engine.ANS``; ``None`` if the rule
        table does not say (then assume every argument and the answer).
        ``n_args`` (the number of arguments of the call) is needed for varargs
        primitives declared with ``adlib.engine.OTHERS``.
        """
        reads = self.reads
        if reads is None:
            return None
        entry = reads[0] if self.varargs else (reads[i] if i < len(reads) else None)
        if entry == OTHERS:
            if n_args is None:
                raise UsageError(f"vjp_reads of varargs primitive '{self.name}' needs "
                                f"n_args, the number of arguments of the call")
            return tuple(j for j in range(n_args) if j != i)
        return None if entry is None else tuple(entry)

    # -- evaluation ---------------------------------------------------------
    def __call__(self, *args, **kwargs):
        top = 0
        for a in args:
            if type(a) in _BOX_TYPES and a.level > top:
                top = a.level
        if not top:
            try:
                return self.fun(*args, **kwargs)
            except TracingError:
                _refuse_traced_containers(self.name, args)
                raise
        if not self.differentiable:
            return self.fun(*[_primal(a) for a in args], **kwargs)
        argnums = []
        unboxed = list(args)
        kind = None
        nested = False    # any boxes of lower levels left after unwrapping `top`?
        for i, a in enumerate(args):
            if type(a) in _BOX_TYPES:
                if a.level == top:
                    argnums.append(i)
                    unboxed[i] = v = a.value
                    kind = type(a)
                    nested = nested or type(v) in _BOX_TYPES
                else:
                    nested = True
        ans = self(*unboxed, **kwargs) if nested else self.fun(*unboxed, **kwargs)
        if kind is VJPBox:
            node = Node(self.name, self, unboxed, kwargs, ans, argnums,
                        [args[i].node for i in argnums])
            return VJPBox(ans, top, node)
        tangents = [None] * len(args)
        for i in argnums:
            tangents[i] = args[i].tangent
        return JVPBox(ans, top, self.jvp_sum(tangents, ans, unboxed, kwargs))


def _refuse_traced_containers(name: str, args: Sequence) -> None:
    """Explain a tuple or list of traced values given to a primitive (then NumPy
    tried to turn it into an array, which drops the derivatives)."""
    for i, a in enumerate(args):
        if isinstance(a, (tuple, list)) and _holds_box(a):
            raise TracingError(
                f"'{name}' received argument {i} as a {type(a).__name__} holding values "
                f"being differentiated; a primitive takes arrays. If f was called by "
                f"ad.vjp(f, (x,)): ad.vjp takes the primals as separate arguments, "
                f"ad.vjp(f, x, y) (JAX's convention), while ad.jvp takes tuples, "
                f"ad.jvp(f, (x, y), (u, v)). To join traced values into one array, use "
                f"anp.stack or anp.array.") from None


def _holds_box(x) -> bool:
    if isinstance(x, (tuple, list)):
        return any(_holds_box(v) for v in x)
    return isinstance(x, Box)


def primitive(fun: Callable | None = None, *, name: str | None = None,
              varargs: bool = False) -> Primitive:
    """Turn a NumPy function into an adlib primitive (usable as a decorator).

    Register its rules with :func:`defjvp` and :func:`defvjp`.
    """
    if fun is None:
        return lambda f: Primitive(f, name, varargs)
    return Primitive(fun, name, varargs)


def defjvp(prim: Primitive, *rules: Callable | None) -> None:
    """Register JVP rules, one per argument: ``rule(tangent, ans, *args, **kw)``.

    A varargs primitive takes one rule, ``rule(tangents, ans, *args, **kw)``.
    """
    prim.jvps = list(rules)


def defvjp(prim: Primitive, *rules: Callable | None,
           reads: Sequence | None = None) -> None:
    """Register VJP rules, one per argument: ``rule(g, ans, *args, **kw)``.

    Parameters
    ----------
    prim
        The primitive.
    *rules
        One rule per argument (``None``: not differentiable in it).  A
        varargs primitive takes one rule, ``rule(i, g, ans, *args, **kw)``.
    reads
        What each rule reads from the forward pass: one entry per rule, a
        tuple of argument positions and/or ``adlib.engine.ANS`` (``None`` for an
        argument without a rule).  A varargs primitive takes one entry, a
        tuple or ``adlib.engine.OTHERS``.  Shapes, axes and indices are metadata and
        are not listed.  Queried with :meth:`Primitive.vjp_reads`; the test
        suite poisons every value a rule says it does not read.
    """
    if reads is not None:
        reads = tuple(reads)
        if len(reads) != len(rules):
            raise RuleError(f"defvjp of '{prim.name}': {len(rules)} rule(s) but "
                            f"{len(reads)} reads entries; give one entry per rule")
        for entry in reads:
            if entry is None or entry == OTHERS:
                continue
            if not all(item == ANS or (type(item) is int and item >= 0) for item in entry):
                raise RuleError(f"defvjp of '{prim.name}': reads entry {entry!r} must be "
                                f"a tuple of argument positions and/or adlib.engine.ANS")
    prim.vjps = list(rules)
    prim.reads = reads


def nondifferentiable(fun: Callable, name: str | None = None) -> Primitive:
    """A primitive whose output carries no derivative (floor, sign, argmax, ...)."""
    return Primitive(fun, name, differentiable=False)


# -------------------------------------------------------- reverse pass ----
def toposort(end: Node) -> list[Node]:
    """Nodes reachable from ``end``, each before all of its parents.

    A node is created after its parents, so reverse creation order is a
    topological order of the reverse pass.
    """
    seen = {id(end): end}
    stack = [end]
    while stack:
        for p in stack.pop().parents:
            if id(p) not in seen:
                seen[id(p)] = p
                stack.append(p)
    return sorted(seen.values(), key=_by_seq, reverse=True)


def _by_seq(node: Node) -> int:
    return node.seq


class Scatter:
    """A cotangent that is zero except on ``x[idx]``: the pullback of indexing.

    Kept unmaterialized so that several slices of one array accumulate into a
    single buffer (``buf[idx] += g``) instead of each allocating a zero-padded
    copy.  Only plain arrays and basic indices take this path; anything that
    must stay differentiable uses the ``untake`` primitive.
    """

    __slots__ = ("g", "idx", "shape")

    def __init__(self, g, idx, shape):
        self.g, self.idx, self.shape = g, idx, shape

    def dense(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=np.result_type(self.g, np.float64))
        out[self.idx] = self.g
        return out


def _dense(ct):
    return ct.dense() if type(ct) is Scatter else ct


def backward(end: Node, g: Any, leaves: list[Node]) -> list:
    """Propagate cotangent ``g`` of ``end`` back to ``leaves``.

    Returns one cotangent per leaf (``None`` where nothing flowed back).
    """
    cts: dict = {id(end): g}
    owned: set = set()   # ids of nodes whose cotangent buffer we allocated
    for node in toposort(end):
        k = id(node)
        g = cts.get(k)
        if g is None or not node.parents:
            continue
        del cts[k]
        for p, ct in zip(node.parents, node.cotangents(_dense(g))):
            if ct is None:
                continue
            pk = id(p)
            prev = cts.get(pk)
            if prev is None:
                cts[pk] = ct
            else:
                cts[pk] = _accumulate(prev, ct, pk in owned)
                owned.add(pk)
    return [_dense(cts.get(id(leaf))) for leaf in leaves]


def _accumulate(a, b, a_owned: bool):
    """a + b, in place into ``a`` when we allocated it and it is a plain array."""
    if type(a) is list:   # multi-output nodes carry a list of cotangents
        return [y if x is None else x if y is None else _accumulate(x, y, False)
                for x, y in zip(a, b)]
    if type(a) is Scatter and type(b) is not Scatter:
        a, b, a_owned = b, a, False
    if type(b) is Scatter:
        if type(a) is Scatter:
            a = a.dense()
        elif type(a) is not np.ndarray:      # a traced value (higher order)
            return a + b.dense()
        elif not a_owned:
            a = a.copy()
        a[b.idx] += b.g
        return a
    if a_owned and type(a) is np.ndarray and type(b) is np.ndarray and a.shape == b.shape:
        a += b
        return a
    return a + b
