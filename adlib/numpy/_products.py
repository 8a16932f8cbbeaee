"""Products: matmul/dot, outer, inner, einsum, and their rules."""
from __future__ import annotations

import numpy as np

from adlib.engine import OTHERS, Primitive, defjvp, defvjp, shape_of
from adlib.errors import ShapeError
from adlib.numpy._util import swap_last, unbroadcast

_matmul = Primitive(np.matmul, "matmul")


def matmul_jvp_a(t, ans, a, b): return _matmul(t, b)
def matmul_jvp_b(t, ans, a, b): return _matmul(a, t)


def matmul_vjp_a(g, ans, a, b):
    from adlib.numpy._shape import expand_dims
    sa, sb = shape_of(a), shape_of(b)
    if len(sa) == 2 and len(sb) == 2:          # the common case, no reshaping
        return _matmul(g, swap_last(b))
    if len(sb) == 1:                            # (..., m, n) @ (n,) -> (..., m)
        if len(sa) == 1:
            return g * b
        return unbroadcast(expand_dims(g, -1) * b, sa)
    if len(sa) == 1:                            # (n,) @ (..., n, k) -> (..., k)
        return unbroadcast(_matmul(expand_dims(g, -2), swap_last(b)), (1,) + sa).reshape(sa)
    return unbroadcast(_matmul(g, swap_last(b)), sa)


def matmul_vjp_b(g, ans, a, b):
    from adlib.numpy._shape import expand_dims
    sa, sb = shape_of(a), shape_of(b)
    if len(sa) == 2 and len(sb) == 2:
        return _matmul(swap_last(a), g)
    if len(sa) == 1:                            # (n,) @ (..., n, k)
        if len(sb) == 1:
            return g * a
        return unbroadcast(expand_dims(a, -1) * expand_dims(g, -2), sb)
    if len(sb) == 1:                            # (..., m, n) @ (n,)
        return unbroadcast(_matmul(swap_last(a), expand_dims(g, -1)), sb + (1,)).reshape(sb)
    return unbroadcast(_matmul(swap_last(a), g), sb)


defjvp(_matmul, matmul_jvp_a, matmul_jvp_b)
defvjp(_matmul, matmul_vjp_a, matmul_vjp_b, reads=[(1,), (0,)])


def matmul(a, b):
    """Matrix product with NumPy's ``@`` semantics (1-D and batched operands)."""
    sa, sb = shape_of(a), shape_of(b)
    if not sa or not sb:
        raise ShapeError(f"anp.matmul: scalar operands are not allowed (shapes {sa} and {sb}); "
                         "use * for scaling")
    if sa[-1] != (sb[0] if len(sb) == 1 else sb[-2]):
        raise ShapeError(f"anp.matmul: shapes {sa} and {sb} do not align: "
                         f"{sa[-1]} (last axis of the first) != "
                         f"{sb[0] if len(sb) == 1 else sb[-2]} (contracted axis of the second)")
    return _matmul(a, b)


def dot(a, b):
    """``np.dot`` for scalars, vectors and matrices."""
    sa, sb = shape_of(a), shape_of(b)
    if not sa or not sb:
        return a * b
    if len(sa) > 2 or len(sb) > 2:   # sum over the last axis of a, second-to-last of b
        return tensordot(a, b, axes=([len(sa) - 1], [max(len(sb) - 2, 0)]))
    return matmul(a, b)


def outer(a, b):
    """Outer product of two vectors (inputs are flattened, as in NumPy)."""
    from adlib.numpy._shape import reshape
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


def inner(a, b):
    """Inner product over the last axes."""
    sa, sb = shape_of(a), shape_of(b)
    if not sa or not sb:
        return a * b
    letters = "abcdefghijklmnopqrstuvwxy"
    la = letters[:len(sa) - 1]
    lb = letters[len(sa) - 1:len(sa) + len(sb) - 2]
    return einsum(f"{la}z,{lb}z->{la}{lb}", a, b)


def vdot(a, b):
    """Sum of elementwise products of two arrays of the same size (flattened)."""
    from adlib.numpy._shape import ravel
    from adlib.numpy._reductions import sum as _sum
    return _sum(ravel(a) * ravel(b))


# ---- einsum ---------------------------------------------------------------------
def _parse(subscripts: str, shapes: list) -> tuple[list, str]:
    """Explicit form of an einsum signature, with '...' spelled out."""
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        lhs, out = subscripts.split("->")
    else:
        lhs, out = subscripts, None
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise ShapeError(f"anp.einsum: '{subscripts}' names {len(ins)} operands but "
                         f"{len(shapes)} were given")
    used = set(lhs.replace(".", ""))
    spare = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used]
    n_ell = max((len(s) - len(t.replace("...", "")) for t, s in zip(ins, shapes) if "..." in t),
                default=0)
    ell = "".join(spare[:n_ell])
    ins = [t.replace("...", ell[n_ell - (len(s) - len(t.replace('...', ''))):]) if "..." in t
           else t for t, s in zip(ins, shapes)]
    if out is None:
        letters = "".join(ins)
        out = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    return ins, out


def _take_repeated_diagonals(ins: list, operands: list) -> tuple[list, list]:
    """Rewrite operands whose subscripts repeat an index ('jj') as their diagonals.

    ``einsum('jj->j', A)`` reads the diagonal of ``A``: each repeated pair of
    axes is replaced by ``diagonal`` (a primitive with its own rules), whose
    new last axis takes the index once.
    """
    from adlib.numpy._shape import diagonal
    ins, operands = list(ins), list(operands)
    for k, term in enumerate(ins):
        while len(set(term)) != len(term):
            c = next(c for c in term if term.count(c) > 1)
            i = term.index(c)
            j = term.index(c, i + 1)
            operands[k] = diagonal(operands[k], 0, i, j)
            term = term[:i] + term[i + 1:j] + term[j + 1:] + c
        ins[k] = term
    return ins, operands


def _from_sublists(args) -> tuple[str, list]:
    """NumPy's interleaved form einsum(op0, sub0, op1, sub1, ..., [subout]) as a string."""
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def spell(sub):
        return "".join("..." if s is Ellipsis else letters[int(s)] for s in sub)
    args = list(args)
    out = spell(args.pop()) if len(args) % 2 else None
    operands, subs = args[0::2], [spell(s) for s in args[1::2]]
    return ",".join(subs) + ("" if out is None else "->" + out), operands


def _einsum_fun(subscripts, *operands):
    return np.einsum(subscripts, *operands, optimize=len(operands) > 2)


_einsum = Primitive(_einsum_fun, "einsum", varargs=True)


def einsum_jvp(tangents, ans, subscripts, *operands):
    out = None
    for i, t in enumerate(tangents[1:]):    # product rule: one term per traced operand
        if t is not None:
            ops = list(operands)
            ops[i] = t
            term = _einsum(subscripts, *ops)
            out = term if out is None else out + term
    return out


def einsum_vjp(i, g, ans, subscripts, *operands):
    from adlib.numpy._shape import broadcast_to, reshape
    ins, out = _parse(subscripts, [shape_of(o) for o in operands])
    k = i - 1
    target = ins[k]
    others = [t for j, t in enumerate(ins) if j != k]
    available = set(out).union(*others) if others else set(out)
    reach = "".join(c for c in target if c in available)
    sig = ",".join([out] + others) + "->" + reach
    ct = _einsum(sig, g, *[o for j, o in enumerate(operands) if j != k])
    shape = shape_of(operands[k])
    # an axis of length 1 that einsum broadcast against the other operands: sum it back
    ct = unbroadcast(ct, tuple(shape[target.index(c)] for c in reach))
    if reach != target:   # indices summed inside this operand only: broadcast back
        kept = tuple(shape[target.index(c)] if c in reach else 1 for c in target)
        ct = broadcast_to(reshape(ct, kept), shape)
    return ct


defjvp(_einsum, einsum_jvp); defvjp(_einsum, einsum_vjp, reads=[OTHERS])


def einsum(subscripts, *operands):
    """Einstein summation, with NumPy's string and interleaved (sublist) forms.

    An index repeated inside one operand (``'ii->i'``, ``'ii'``) reads a
    diagonal, as in NumPy.
    """
    if not isinstance(subscripts, str):
        subscripts, operands = _from_sublists((subscripts,) + operands)
    ins, out = _parse(subscripts, [shape_of(o) for o in operands])
    ins, operands = _take_repeated_diagonals(ins, operands)
    return _einsum(",".join(ins) + "->" + out, *operands)


def tensordot(a, b, axes=2):
    """Tensor contraction over ``axes`` (an int or a pair of axis lists)."""
    sa, sb = shape_of(a), shape_of(b)
    if isinstance(axes, int):
        ax_a, ax_b = list(range(len(sa) - axes, len(sa))), list(range(axes))
    else:
        ax_a, ax_b = [list(np.atleast_1d(x)) for x in axes]
    ax_a = [int(x) % len(sa) for x in ax_a]   # negative axes count from the end
    ax_b = [int(x) % len(sb) for x in ax_b]
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    la = [next(letters) for _ in sa]
    lb = [next(letters) for _ in sb]
    for x, y in zip(ax_a, ax_b):
        lb[y] = la[x]
    out = [c for i, c in enumerate(la) if i not in ax_a] + \
          [c for i, c in enumerate(lb) if i not in ax_b]
    return _einsum(f"{''.join(la)},{''.join(lb)}->{''.join(out)}", a, b)
