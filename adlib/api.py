"""The transformations users call: jvp, vjp, grad, jacobians, hessian.

Type sketches (JAX style)::

    jvp  : (a -> b) -> (a, T a) -> (b, T b)
    vjp  : (a -> b) -> a -> (b, T* b -> T* a)
    grad : (a -> float) -> a -> T* a
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from adlib import tree
from adlib.engine import (JVPBox, Node, VJPBox, _describe, _primal,
                          backward, leaf_node, new_level, shape_of)

__all__ = ["jvp", "vjp", "grad", "value_and_grad", "jacfwd", "jacrev", "hessian"]


# ------------------------------------------------------------- checks ----
def _check_float(where: str, label: str, leaf: Any) -> None:
    """Refuse integer and boolean inputs: they have no tangent space."""
    dt = np.result_type(_primal(leaf))
    if not np.issubdtype(dt, np.inexact):
        raise TypeError(
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


# ---------------------------------------------------------------- jvp ----
def jvp(f: Callable, primals: Sequence, tangents: Sequence) -> tuple[Any, Any]:
    """Evaluate ``f`` at ``primals`` and push ``tangents`` forward.

    Parameters
    ----------
    f
        Function of ``len(primals)`` positional arguments (arrays, floats or
        pytrees of them) built from :mod:`adlib.numpy` operations.
    primals, tangents
        Tuples with the same structure and shapes: the point and the input
        direction :math:`\\dot x`.

    Returns
    -------
    (primal_out, tangent_out)
        ``f(*primals)`` and :math:`\\dot y = \\partial f(x)\\,\\dot x`, with the
        structure of the output.
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp: primals and tangents must be tuples, one entry per argument "
                        f"of f, e.g. jvp(f, (x,), (v,)); got {type(primals).__name__} and "
                        f"{type(tangents).__name__}")
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents; "
                         "give one tangent per argument")
    leaves, labels, defs = _labelled_leaves("jvp", primals)
    t_leaves = []
    for i, (p, t) in enumerate(zip(primals, tangents)):
        lv, td = tree.flatten(t)
        if td != defs[i]:
            raise ValueError(f"jvp: the tangent for argument {i} has structure {td!r} but "
                             f"the primal has structure {defs[i]!r}; they must match")
        t_leaves.extend(lv)
    for label, p, t in zip(labels, leaves, t_leaves):
        if shape_of(p) != shape_of(t):
            raise ValueError(f"jvp: the tangent for {label} has shape {shape_of(t)} but the "
                             f"primal has shape {shape_of(p)}; a tangent lives in the input's "
                             f"space and must have its shape")
    level = new_level()
    boxed = [JVPBox(p, level, t) for p, t in zip(leaves, t_leaves)]
    out = f(*_rebuild(defs, boxed))
    out_leaves, out_def = tree.flatten(out)
    values, tans = [], []
    for y in out_leaves:
        if type(y) is JVPBox and y.level == level:
            values.append(y.value)
            tans.append(y.tangent)
        else:                       # the output does not depend on the inputs
            values.append(y)
            tans.append(_zeros(y))
    return tree.unflatten(out_def, values), tree.unflatten(out_def, tans)


# ---------------------------------------------------------------- vjp ----
def vjp(f: Callable, *primals: Any) -> tuple[Any, Callable]:
    """Evaluate ``f`` at ``primals`` and return its pullback.

    Returns
    -------
    (primal_out, vjp_fn)
        ``vjp_fn(cotangent)`` takes :math:`\\bar y` (same structure and shapes
        as the output) and returns a tuple :math:`\\bar x = \\partial f(x)^T\\bar y`
        with one entry per primal.
    """
    return _vjp(f, primals, "vjp")


def _vjp(f: Callable, primals: Sequence, where: str, positions: Sequence[int] | None = None):
    leaves, labels, defs = _labelled_leaves(where, primals, positions)
    level = new_level()
    nodes = [leaf_node(label) for label in labels]
    boxed = [VJPBox(p, level, n) for p, n in zip(leaves, nodes)]
    out = f(*_rebuild(defs, boxed))
    out_leaves, out_def = tree.flatten(out)
    values = [y.value if type(y) is VJPBox and y.level == level else y for y in out_leaves]
    out_nodes = [y.node if type(y) is VJPBox and y.level == level else None
                 for y in out_leaves]

    def vjp_fn(cotangent):
        ct_leaves, ct_def = tree.flatten(cotangent)
        if ct_def != out_def:
            raise ValueError(f"vjp_fn: the cotangent has structure {ct_def!r} but the "
                             f"output of f has structure {out_def!r}; they must match")
        seeds = []
        for k, (y, c) in enumerate(zip(values, ct_leaves)):
            if shape_of(c) != shape_of(y):
                raise ValueError(f"vjp_fn: the cotangent for output leaf {k} has shape "
                                 f"{shape_of(c)} but that output has shape {shape_of(y)}; "
                                 f"a cotangent lives in the output's space and must have "
                                 f"its shape")
            seeds.append(c)
        live = [(n, c) for n, c in zip(out_nodes, seeds) if n is not None]
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
        out = []
        for p, c in zip(leaves, cts):
            if c is None:
                c = _zeros(p)
            elif type(c) is np.ndarray and (id(c) in seen or not c.flags.writeable):
                c = np.array(c)                  # a copy the caller may modify freely
            seen.add(id(c))
            out.append(c)
        return _rebuild(defs, out)

    return tree.unflatten(out_def, values), vjp_fn


# --------------------------------------------------------------- grad ----
def _split(args: Sequence, argnums):
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for a in nums:
        if not -len(args) <= a < len(args):
            raise ValueError(f"argnums={argnums} but f was called with {len(args)} arguments")
    nums = tuple(a % len(args) for a in nums)

    def with_args(f):
        def partial(*diff):
            full = list(args)
            for a, v in zip(nums, diff):
                full[a] = v
            return f(*full)
        return partial
    return nums, with_args


def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """Like :func:`grad`, but also return ``f``'s value: ``(value, gradient)``."""
    def value_and_grad_f(*args):
        nums, with_args = _split(args, argnums)
        out, fn = _vjp(with_args(f), [args[a] for a in nums], "grad", nums)
        if isinstance(out, (tuple, list, dict)) or shape_of(out) != ():
            raise TypeError(
                f"grad requires a function with a scalar output, but "
                f"{getattr(f, '__name__', 'f')} returned "
                f"{type(out).__name__ if isinstance(out, (tuple, list, dict)) else _describe(out)}. "
                f"Reduce it to a scalar (e.g. anp.sum), or use ad.jacrev for the Jacobian "
                f"or ad.vjp with a cotangent of the output's shape.")
        g = fn(np.ones((), dtype=np.result_type(_primal(out), np.float64))[()])
        return out, g[0] if isinstance(argnums, int) else g
    return value_and_grad_f


def grad(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The gradient of a scalar-valued ``f``: one reverse pass seeded with 1.

    Parameters
    ----------
    f
        Function returning a scalar.
    argnums
        Which positional argument(s) to differentiate; an int gives one
        gradient, a tuple gives a tuple of gradients.

    Examples
    --------
    >>> import adlib as ad, adlib.numpy as anp
    >>> float(ad.grad(lambda x: anp.sin(x) * x)(0.0))
    0.0
    """
    vg = value_and_grad(f, argnums)

    def grad_f(*args):
        return vg(*args)[1]
    grad_f.__name__ = f"grad_{getattr(f, '__name__', 'f')}"
    return grad_f


# ---------------------------------------------------------- jacobians ----
def _array_arg(where, args, a):
    x = args[a]
    if isinstance(x, (tuple, list, dict)):
        raise TypeError(f"{where}: argument {a} is a {type(x).__name__}; jacobians are "
                        "built for array arguments (pass arrays, or use jvp/vjp directly)")
    return x


def jacfwd(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """Jacobian by forward mode: one JVP per input element (columns).

    For an array output the result has shape ``output.shape + input.shape``;
    a pytree output gives that pytree of Jacobians.  With a tuple ``argnums``
    each Jacobian becomes a tuple, one entry per argument (JAX's layout).
    """
    from adlib import numpy as anp

    def jac_f(*args):
        nums, _ = _split(args, argnums)
        per_arg = []
        out_def = None
        for a in nums:
            x = _array_arg("jacfwd", args, a)
            _check_float("jacfwd", f"argument {a}", x)
            shape = shape_of(x)
            n = int(np.prod(shape))
            eye = np.eye(n).reshape((n,) + shape)
            fa = _split(args, a)[1](f)
            if n:
                cols = [jvp(fa, (x,), (eye[i],))[1] for i in range(n)]
            else:
                cols = [tree.tree_map(_zeros, fa(x))]
            leaves_per_col = [tree.flatten(c) for c in cols]
            out_def = leaves_per_col[0][1]
            jacs = []
            for k, leaf in enumerate(leaves_per_col[0][0]):
                out_shape = shape_of(leaf)
                J = (anp.stack([lc[0][k] for lc in leaves_per_col], axis=-1) if n
                     else np.zeros(out_shape + (0,)))
                jacs.append(anp.reshape(J, out_shape + shape))
            per_arg.append(jacs)
        if isinstance(argnums, int):
            leaves = per_arg[0]
        else:
            leaves = [tuple(j[k] for j in per_arg) for k in range(len(per_arg[0]))]
        return tree.unflatten(out_def, leaves)
    return jac_f


def jacrev(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """Jacobian by reverse mode: one VJP per output element (rows).

    The result has shape ``output.shape + input.shape``.
    """
    from adlib import numpy as anp

    def jac_f(*args):
        nums, with_args = _split(args, argnums)
        for a in nums:
            _array_arg("jacrev", args, a)
        out, fn = _vjp(with_args(f), [args[a] for a in nums], "jacrev", nums)
        if isinstance(out, (tuple, list, dict)):
            raise TypeError("jacrev: f must return a single array")
        out_shape = shape_of(out)
        m = int(np.prod(out_shape))
        eye = np.eye(m).reshape((m,) + out_shape)
        rows = [fn(eye[i]) for i in range(m)]
        jacs = []
        for k, a in enumerate(nums):
            shape = shape_of(args[a])
            J = anp.stack([r[k] for r in rows]) if rows else np.zeros((0,) + shape)
            jacs.append(anp.reshape(J, out_shape + shape))
        return jacs[0] if isinstance(argnums, int) else tuple(jacs)
    return jac_f


def hessian(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """Hessian of a scalar function: forward over reverse, ``jacfwd(jacrev(f))``.

    For an int ``argnums`` the result has shape ``x.shape + x.shape``; for a
    tuple it is nested, ``H[i][j]`` being the block of arguments ``i`` and ``j``.
    """
    return jacfwd(grad(f, argnums), argnums)
