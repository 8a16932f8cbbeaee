"""Recording a trace: run a function once on reverse-mode boxes and keep its graph."""
from __future__ import annotations

import inspect
import re
from typing import Any, Callable, Sequence

import numpy as np

from adlib import tree
from adlib.engine import Node, VJPBox, _primal, leaf_node, new_level
from adlib.errors import DTypeError, ShapeError
from adlib.graph.nodes import GraphNode, is_numeric
from adlib.graph.structure import Graph

__all__ = ["trace"]


def _closure(fn: Callable) -> dict:
    code = getattr(fn, "__code__", None)
    if code is None or not fn.__closure__:
        return {}
    return {name: cell.cell_contents for name, cell in zip(code.co_freevars, fn.__closure__)}



def _argument_names(f: Callable, n: int, names: Sequence[str] | None) -> list[str]:
    if names is not None:
        names = list(names)
        if len(names) != n:
            raise ShapeError(f"adlib.graph.trace: names has {len(names)} entries but f was "
                             f"called with {n} arguments; give one name per argument")
        return [str(s) for s in names]
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        params = []
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    star = [p for p in params if p.kind == p.VAR_POSITIONAL]
    out = []
    for i in range(n):
        if i < len(positional):
            out.append(positional[i].name)
        elif star:                                   # def f(*xs): xs[0], xs[1], ...
            out.append(f"{star[0].name}[{i - len(positional)}]")
        else:
            out.append(f"x{i}")
    return out


def _leaf_paths(x: Any, prefix: str) -> list[str]:
    """Names of the leaves of a pytree, in ``tree.flatten`` order."""
    t = type(x)
    if t is tuple or t is list:
        return [p for i, v in enumerate(x) for p in _leaf_paths(v, f"{prefix}[{i}]")]
    if t is dict:
        return [p for k in sorted(x) for p in _leaf_paths(x[k], f"{prefix}[{k!r}]")]
    if x is None:
        return []
    return [prefix]


def _function_name(f: Callable) -> str:
    name = getattr(f, "__name__", "")
    return name if name.isidentifier() else "out"


def trace(f: Callable, *args: Any, names: Sequence[str] | None = None,
          argnums: int | Sequence[int] | None = None,
          output_names: Sequence[str] | None = None) -> Graph:
    """Record the computational graph of ``f`` at ``args``.

    ``f`` runs once on reverse-mode boxes at a fresh trace level; every
    primitive call (and every call of a custom rule) becomes an op node.

    Parameters
    ----------
    f
        Function of positional arguments built from :mod:`adlib.numpy`.
    *args
        The point: floats, arrays or pytrees of them.
    names
        One name per argument; by default the parameter names of ``f``.
        Leaves of a pytree argument are named like ``params[0]`` or
        ``params['W']``.
    argnums
        Which arguments are traced (all by default).  The others are passed
        unchanged: they are data, shown as constants, not input nodes.
    output_names
        One name per output leaf; by default the function's name (``f``,
        ``loss``; ``out`` for a lambda), with ``[k]`` for several outputs.

    Returns
    -------
    Graph
        Nodes in topological order: the inputs in argument order, then the
        operations in the order they ran, then the outputs.  Operations whose
        results do not reach an output are left out.

    Examples
    --------
    >>> import adlib.numpy as anp
    >>> from adlib.graph import trace
    >>> def f(x, y):
    ...     return y * anp.sin(x)
    >>> g = trace(f, 0.5, 2.0)
    >>> [n.name for n in g.nodes]
    ['x', 'y', 'sin', 'multiply', 'f']
    """
    n = len(args)
    if argnums is None:
        nums = tuple(range(n))
    else:
        nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
        for a in nums:
            if not -n <= a < n:
                raise ShapeError(f"adlib.graph.trace: argnums={argnums} but f was called "
                                 f"with {n} arguments")
        nums = tuple(sorted({a % n for a in nums}))
    arg_names = _argument_names(f, n, names)

    level = new_level()
    call_args = list(args)
    inputs: list[GraphNode] = []
    by_engine_node: dict[int, GraphNode] = {}
    arg_defs = []
    for i in nums:
        leaves, td = tree.flatten(args[i])
        paths = _leaf_paths(args[i], arg_names[i])
        boxes = []
        for leaf, path in zip(leaves, paths):
            dt = np.result_type(_primal(leaf))
            if not np.issubdtype(dt, np.inexact):
                raise DTypeError(
                    f"adlib.graph.trace: input '{path}' has dtype {dt}; only floating-point "
                    f"inputs can be traced. Pass floats (e.g. 1.0 instead of 1), or leave "
                    f"this argument out of argnums so that it is treated as data.")
            en = leaf_node(path)
            gn = GraphNode(len(inputs), path, path, "input", leaf, node=en)
            inputs.append(gn)
            by_engine_node[id(en)] = gn
            boxes.append(VJPBox(leaf, level, en))
        arg_defs.append((i, td, inputs[len(inputs) - len(boxes):]))
        call_args[i] = tree.unflatten(td, boxes)

    out = f(*call_args)

    out_leaves, out_td = tree.flatten(out)
    out_nodes = [y.node if type(y) is VJPBox and y.level == level else None for y in out_leaves]
    out_values = [y.value if type(y) is VJPBox and y.level == level else y for y in out_leaves]

    # the operations the outputs depend on, in the order they ran (adlib numbers
    # its nodes as it creates them)
    reached: dict[int, Node] = {}
    stack = [en for en in out_nodes if en is not None]
    while stack:
        en = stack.pop()
        if id(en) not in reached and id(en) not in by_engine_node:
            reached[id(en)] = en
            stack.extend(en.parents)
    ops_engine = sorted(reached.values(), key=lambda en: en.seq)

    known_names = _constant_names(f, args, arg_names, nums)
    nodes = list(inputs)
    counts: dict[str, int] = {}
    for gn in inputs:
        counts[gn.name] = 1
    for en in ops_engine:
        name = en.name
        counts[name] = counts.get(name, 0) + 1
        key = name if counts[name] == 1 else f"{name}_{counts[name]}"
        parents = [by_engine_node[id(p)] for p in en.parents]
        value = en.ans
        constants = {}
        if en.prim is not None:
            constants = {j: a for j, a in enumerate(en.args)
                         if j not in en.argnums and is_numeric(a)}
        selector = None
        m = re.fullmatch(r".*\[(\d+)\]", name)
        if en.prim is None and m and len(parents) == 1 and parents[0].node.n_out > 1:
            selector = int(m.group(1))
        gn = GraphNode(len(nodes), key, name, "op", value, parents, tuple(en.argnums),
                       constants, {j: known_names.get(id(a)) for j, a in constants.items()},
                       node=en, selector=selector)
        nodes.append(gn)
        by_engine_node[id(en)] = gn

    fname = _function_name(f)
    if output_names is None:
        output_names = ([fname] if len(out_leaves) == 1 and out_td.kind == "leaf"
                        else _leaf_paths(out, fname))
    output_names = list(output_names)
    if len(output_names) != len(out_leaves):
        raise ShapeError(f"adlib.graph.trace: output_names has {len(output_names)} entries "
                         f"but f returned {len(out_leaves)} output leaves")
    outputs = []
    for name, en, value in zip(output_names, out_nodes, out_values):
        parents = [] if en is None else [by_engine_node[id(en)]]
        key = name if name not in counts else f"{name}_out"
        counts[key] = 1
        gn = GraphNode(len(nodes), key, name, "output", value, parents)
        nodes.append(gn)
        outputs.append(gn)

    return Graph(nodes, arg_defs, out_td, fname)


def _constant_names(f: Callable, args: tuple, arg_names: list, nums: tuple) -> dict:
    """id of a value -> a name for it: untraced arguments, then f's closure and globals.

    Only arrays are looked up in the closure and the globals (a number could
    coincide with an unrelated variable); names starting with ``_`` are skipped.
    """
    found = {id(args[i]): arg_names[i] for i in range(len(args)) if i not in nums}
    places = []
    fns, seen = [f], set()
    while fns and len(seen) < 20:       # f's closure, the closures of functions in it, ...
        fn = fns.pop(0)
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        env = sorted(_closure(fn).items())
        places.append(env)
        fns += [v for _, v in env if callable(v)]
    glb = getattr(f, "__globals__", None)
    if isinstance(glb, dict):
        places.append(sorted(glb.items()))
    for items in places:
        for name, value in items:
            if type(value) is np.ndarray and not name.startswith("_") \
                    and id(value) not in found:
                found[id(value)] = name
    return found
