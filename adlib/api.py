"""The transformations users call: jvp, vjp, grad, jacobians, hessian.

Type sketches (JAX style)::

    jvp  : (a -> b) -> (a, T a) -> (b, T b)
    vjp  : (a -> b) -> a -> (b, T* b -> T* a)
    grad : (a -> float) -> a -> T* a

Every transformation accepts pytrees (tuples, lists, dicts) as inputs and
outputs, and ``has_aux=True`` as in JAX: ``f`` then returns a pair
``(output, aux)``; ``aux`` is handed back alongside the result, not
differentiated.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from adlib import tree
from adlib.engine import (_BOX_TYPES, JVPBox, Node, VJPBox, _describe, _primal,
                          backward, leaf_node, new_level, shape_of)
from adlib.errors import DTypeError, ShapeError, UsageError

__all__ = ["jvp", "vjp", "grad", "value_and_grad", "jacfwd", "jacrev", "hessian"]


# ------------------------------------------------------------- checks ----
def _check_float(where: str, label: str, leaf: Any) -> None:
    """Refuse integer and boolean inputs: they have no tangent space."""
    dt = np.result_type(_primal(leaf))
    if np.issubdtype(dt, np.complexfloating):
        raise DTypeError(
            f"{where}: {label} is complex ({_describe(leaf)}); adlib differentiates real "
            f"inputs only. Carry the real and imaginary parts as two real arrays.")
    if not np.issubdtype(dt, np.inexact):
        raise DTypeError(
            f"{where}: {label} has dtype {dt} ({_describe(leaf)}); adlib differentiates "
            f"floating-point inputs only. Pass floats (e.g. 1.0 instead of 1, or "
            f"np.asarray(x, dtype=float)), or keep integer data out of the differentiated "
            f"arguments (close over it, or choose argnums).")


def _labelled_leaves(where: str, args: Sequence,
                     positions: Sequence[int] | None = None) -> tuple[list, list, list]:
    """Flatten each argument; return leaves, their labels and per-argument treedefs.

    ``positions`` are the arguments' indices in the user's call (for argnums).
    """
    leaves, labels, defs = [], [], []
    for i, a in zip(positions or range(len(args)), args):
        lv, td = tree.flatten(a)
        defs.append(td)
        for j, leaf in enumerate(lv):
            label = f"argument {i}" if td.kind == "leaf" else f"argument {i} (leaf {j})"
            _check_float(where, label, leaf)
            leaves.append(leaf)
            labels.append(label)
    return leaves, labels, defs


def _rebuild(defs: list, leaves: list) -> tuple:
    out, k = [], 0
    for td in defs:
        n = td.num_leaves
        out.append(tree.unflatten(td, leaves[k:k + n]))
        k += n
    return tuple(out)


def _zeros(leaf):
    return np.zeros(shape_of(leaf), dtype=np.result_type(_primal(leaf), np.float64))


def _with_aux(where: str, result: Any, has_aux: bool) -> tuple[Any, Any]:
    """Split ``f``'s result into (output, aux) when ``has_aux``."""
    if not has_aux:
        return result, None
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        got = (f"{type(result).__name__} of length {len(result)}"
               if isinstance(result, (tuple, list)) else
               type(result).__name__ if isinstance(result, dict) else _describe(result))
        raise UsageError(f"{where} with has_aux=True: f must return a pair (output, aux), "
                         f"got {got}; return e.g. (loss, metrics)")
    return result[0], result[1]


def _strip(aux: Any, level: int) -> Any:
    """``aux`` without the boxes of trace ``level`` (it is not differentiated there)."""
    leaves, td = tree.flatten(aux)
    return tree.unflatten(td, [x.value if type(x) in _BOX_TYPES and x.level == level
                               else x for x in leaves])


# ---------------------------------------------------------------- jvp ----
def jvp(f: Callable, primals: Sequence, tangents: Sequence,
        has_aux: bool = False) -> tuple:
    """Evaluate ``f`` at ``primals`` and push ``tangents`` forward.

    Parameters
    ----------
    f
        Function of ``len(primals)`` positional arguments (arrays, floats or
        pytrees of them) built from :mod:`adlib.numpy` operations.
    primals, tangents
        Tuples with the same structure and shapes: the point and the input
        direction :math:`\\dot x`.
    has_aux
        ``f`` returns ``(output, aux)``; ``aux`` is returned, not differentiated.

    Returns
    -------
    (primal_out, tangent_out) or (primal_out, tangent_out, aux)
        ``f(*primals)`` and :math:`\\dot y = \\partial f(x)\\,\\dot x`, with the
        structure of the output.
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise UsageError("jvp: primals and tangents must be tuples, one entry per argument "
                         f"of f, e.g. jvp(f, (x,), (v,)); got {type(primals).__name__} and "
                         f"{type(tangents).__name__}")
    if len(primals) != len(tangents):
        raise ShapeError(f"jvp: {len(primals)} primals but {len(tangents)} tangents; "
                         "give one tangent per argument")
    leaves, labels, defs = _labelled_leaves("jvp", primals)
    t_leaves = []
    for i, (p, t) in enumerate(zip(primals, tangents)):
        lv, td = tree.flatten(t)
        if td != defs[i]:
            raise ShapeError(f"jvp: the tangent for argument {i} has structure {td!r} but "
                             f"the primal has structure {defs[i]!r}; they must match")
        t_leaves.extend(lv)
    for label, p, t in zip(labels, leaves, t_leaves):
        if shape_of(p) != shape_of(t):
            raise ShapeError(f"jvp: the tangent for {label} has shape {shape_of(t)} but the "
                             f"primal has shape {shape_of(p)}; a tangent lives in the input's "
                             f"space and must have its shape")
    level = new_level()
    boxed = [JVPBox(p, level, t) for p, t in zip(leaves, t_leaves)]
    out, aux = _with_aux("jvp", f(*_rebuild(defs, boxed)), has_aux)
    out_leaves, out_def = tree.flatten(out)
    values, tans = [], []
    for y in out_leaves:
        if type(y) is JVPBox and y.level == level:
            values.append(y.value)
            tans.append(y.tangent)
        else:                       # the output does not depend on the inputs
            values.append(y)
            tans.append(_zeros(y))
    result = (tree.unflatten(out_def, values), tree.unflatten(out_def, tans))
    return result + (_strip(aux, level),) if has_aux else result


# ---------------------------------------------------------------- vjp ----
def vjp(f: Callable, *primals: Any, has_aux: bool = False) -> tuple:
    """Evaluate ``f`` at ``primals`` and return its pullback.

    The primals are passed as separate arguments, ``vjp(f, x, y)`` (JAX's
    convention; :func:`jvp` takes tuples).

    Returns
    -------
    (primal_out, vjp_fn) or (primal_out, vjp_fn, aux)
        ``vjp_fn(cotangent)`` takes :math:`\\bar y` (same structure and shapes
        as the output) and returns a tuple :math:`\\bar x = \\partial f(x)^T\\bar y`
        with one entry per primal.  With ``has_aux``, ``f`` returns
        ``(output, aux)`` and ``aux`` comes third.
    """
    out, fn, aux = _vjp(f, primals, "vjp", has_aux=has_aux)
    return (out, fn, aux) if has_aux else (out, fn)


def _vjp(f: Callable, primals: Sequence, where: str, positions: Sequence[int] | None = None,
         has_aux: bool = False):
    leaves, labels, defs = _labelled_leaves(where, primals, positions)
    level = new_level()
    nodes = [leaf_node(label) for label in labels]
    boxed = [VJPBox(p, level, n) for p, n in zip(leaves, nodes)]
    out, aux = _with_aux(where, f(*_rebuild(defs, boxed)), has_aux)
    out_leaves, out_def = tree.flatten(out)
    values = [y.value if type(y) is VJPBox and y.level == level else y for y in out_leaves]
    out_nodes = [y.node if type(y) is VJPBox and y.level == level else None
                 for y in out_leaves]

    def vjp_fn(cotangent):
        ct_leaves, ct_def = tree.flatten(cotangent)
        if ct_def != out_def:
            raise ShapeError(f"vjp_fn: the cotangent has structure {ct_def!r} but the "
                             f"output of f has structure {out_def!r}; they must match")
        for k, (y, c) in enumerate(zip(values, ct_leaves)):
            if shape_of(c) != shape_of(y):
                raise ShapeError(f"vjp_fn: the cotangent for output leaf {k} has shape "
                                 f"{shape_of(c)} but that output has shape {shape_of(y)}; "
                                 f"a cotangent lives in the output's space and must have "
                                 f"its shape")
        live = [(n, c) for n, c in zip(out_nodes, ct_leaves) if n is not None]
        if not live:
            cts = [None] * len(nodes)
        elif len(live) == 1:
            cts = backward(live[0][0], live[0][1], nodes)
        else:   # several outputs: one backward pass from a node joining them
            parents = [n for n, _ in live]
            join = Node("outputs", None, (), {}, None, (), parents,
                        pullback=lambda g: g)
            cts = backward(join, [c for _, c in live], nodes)
        seen = {id(c) for c in ct_leaves}       # never hand back the caller's arrays
        result = []
        for p, c in zip(leaves, cts):
            if c is None:
                c = _zeros(p)
            elif type(c) is np.ndarray and (id(c) in seen or not c.flags.writeable):
                c = np.array(c)                  # a copy the caller may modify freely
            seen.add(id(c))
            result.append(c)
        return _rebuild(defs, result)

    return tree.unflatten(out_def, values), vjp_fn, _strip(aux, level)


# --------------------------------------------------------------- grad ----
def _split(args: Sequence, argnums):
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for a in nums:
        if not -len(args) <= a < len(args):
            raise ShapeError(f"argnums={argnums} but f was called with {len(args)} "
                             f"arguments; argnums must name positions of the call")
    nums = tuple(a % len(args) for a in nums)

    def with_args(f):
        def partial(*diff):
            full = list(args)
            for a, v in zip(nums, diff):
                full[a] = v
            return f(*full)
        return partial
    return nums, with_args


def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0,
                   has_aux: bool = False) -> Callable:
    """Like :func:`grad`, but also return ``f``'s value: ``(value, gradient)``.

    With ``has_aux``: ``((value, aux), gradient)``, as in JAX.
    """
    def value_and_grad_f(*args):
        nums, with_args = _split(args, argnums)
        out, fn, aux = _vjp(with_args(f), [args[a] for a in nums], "grad", nums, has_aux)
        if isinstance(out, (tuple, list, dict)) or shape_of(out) != ():
            raise UsageError(
                f"grad requires a function with a scalar output, but "
                f"{getattr(f, '__name__', 'f')} returned "
                f"{type(out).__name__ if isinstance(out, (tuple, list, dict)) else _describe(out)}"
                f"{' as its output' if has_aux else ''}. "
                f"Reduce it to a scalar (e.g. anp.sum), or use ad.jacrev for the Jacobian "
                f"or ad.vjp with a cotangent of the output's shape.")
        g = fn(np.ones((), dtype=np.result_type(_primal(out), np.float64))[()])
        g = g[0] if isinstance(argnums, int) else g
        return ((out, aux), g) if has_aux else (out, g)
    return value_and_grad_f


def grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The gradient of a scalar-valued ``f``: one reverse pass seeded with 1.

    Parameters
    ----------
    f
        Function returning a scalar (or, with ``has_aux``, a pair
        ``(scalar, aux)``).
    argnums
        Which positional argument(s) to differentiate; an int gives one
        gradient, a tuple gives a tuple of gradients.
    has_aux
        Return ``(gradient, aux)``, as JAX does.

    Examples
    --------
    >>> import adlib as ad, adlib.numpy as anp
    >>> float(ad.grad(lambda x: anp.sin(x) * x)(0.0))
    0.0
    """
    vg = value_and_grad(f, argnums, has_aux)

    def grad_f(*args):
        (value, g) = vg(*args)
        return (g, value[1]) if has_aux else g
    grad_f.__name__ = f"grad_{getattr(f, '__name__', 'f')}"
    return grad_f


# ---------------------------------------------------------- jacobians ----
def _by_argument(blocks: list, defs: list, argnums) -> Any:
    """Jacobian blocks of one output leaf, arranged like the differentiated inputs."""
    per_arg = _rebuild(defs, blocks)
    return per_arg[0] if isinstance(argnums, int) else per_arg


def _stack_block(pieces: list, axis: int, shape: tuple):
    from adlib.numpy import _shape as shp
    return shp.reshape(shp.stack(pieces, axis=axis), shape)


def jacfwd(f: Callable, argnums: int | Sequence[int] = 0,
           has_aux: bool = False) -> Callable:
    """Jacobian by forward mode: one JVP per input element (columns).

    Every argument named in ``argnums`` is traced at once.  Inputs and outputs
    may be pytrees; the result follows JAX: the output's structure, each leaf
    replaced by the inputs' structure (a tuple of them for a tuple
    ``argnums``), each block of shape ``output_leaf.shape + input_leaf.shape``.
    With ``has_aux``, ``f`` returns ``(output, aux)`` and the result is
    ``(jacobian, aux)``.
    """
    def jac_f(*args):
        nums, with_args = _split(args, argnums)
        primals = tuple(args[a] for a in nums)
        leaves, _, defs = _labelled_leaves("jacfwd", primals, nums)
        shapes = [shape_of(x) for x in leaves]
        sizes = [int(np.prod(s)) for s in shapes]
        zeros = [_zeros(x) for x in leaves]
        g = with_args(f)

        def push(tangent_leaves):
            return jvp(g, primals, _rebuild(defs, tangent_leaves), has_aux=has_aux)

        columns = []
        for i, (shape, n) in enumerate(zip(shapes, sizes)):
            basis = np.eye(n).reshape((n,) + shape)
            for k in range(n):
                columns.append(push(zeros[:i] + [basis[k]] + zeros[i + 1:]))
        first = columns[0] if columns else push(zeros)
        out_leaves, out_def = tree.flatten(first[0])
        col_leaves = [tree.flatten(c[1])[0] for c in columns]
        per_output = []
        for j, y in enumerate(out_leaves):
            out_shape = shape_of(y)
            blocks, start = [], 0
            for shape, n in zip(shapes, sizes):
                if n:
                    blocks.append(_stack_block([c[j] for c in col_leaves[start:start + n]],
                                               -1, out_shape + shape))
                else:
                    blocks.append(np.zeros(out_shape + shape))
                start += n
            per_output.append(_by_argument(blocks, defs, argnums))
        jac = tree.unflatten(out_def, per_output)
        return (jac, first[2]) if has_aux else jac
    return jac_f


def jacrev(f: Callable, argnums: int | Sequence[int] = 0,
           has_aux: bool = False) -> Callable:
    """Jacobian by reverse mode: one VJP per output element (rows).

    Same layout as :func:`jacfwd` (JAX's): for array input and output the
    result has shape ``output.shape + input.shape``.
    """
    def jac_f(*args):
        nums, with_args = _split(args, argnums)
        primals = [args[a] for a in nums]
        out, fn, aux = _vjp(with_args(f), primals, "jacrev", nums, has_aux)
        leaves, _, defs = _labelled_leaves("jacrev", primals, nums)
        shapes = [shape_of(x) for x in leaves]
        out_leaves, out_def = tree.flatten(out)
        zeros = [_zeros(y) for y in out_leaves]
        per_output = []
        for j, y in enumerate(out_leaves):
            out_shape = shape_of(y)
            m = int(np.prod(out_shape))
            basis = np.eye(m).reshape((m,) + out_shape)
            rows = [tree.flatten(fn(tree.unflatten(out_def, zeros[:j] + [basis[k]]
                                                   + zeros[j + 1:])))[0]
                    for k in range(m)]
            blocks = [_stack_block([r[i] for r in rows], 0, out_shape + shape) if m
                      else np.zeros(out_shape + shape) for i, shape in enumerate(shapes)]
            per_output.append(_by_argument(blocks, defs, argnums))
        jac = tree.unflatten(out_def, per_output)
        return (jac, aux) if has_aux else jac
    return jac_f


def hessian(f: Callable, argnums: int | Sequence[int] = 0,
            has_aux: bool = False) -> Callable:
    """Hessian of a scalar function: forward over reverse, ``jacfwd(jacrev(f))``.

    For an int ``argnums`` and an array input the result has shape
    ``x.shape + x.shape``; for a tuple it is nested, ``H[i][j]`` being the
    block of arguments ``i`` and ``j``; pytree inputs nest the same way (JAX's
    layout).  With ``has_aux``: ``(hessian, aux)``.
    """
    return jacfwd(jacrev(f, argnums, has_aux), argnums, has_aux)
