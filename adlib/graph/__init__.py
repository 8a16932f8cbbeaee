"""Computational graphs of real traces, and pictures of forward and reverse mode.

:func:`trace` runs a function once on reverse-mode boxes and returns the
:class:`Graph` that adlib recorded: one node per input, one per primitive call
(or per custom rule), one per output, with the primal values and shapes.  On
that graph you can replay both modes node by node, with the library's own
rules:

* :meth:`Graph.forward_pass` pushes tangents forward (the JVP rules of each
  primitive), so every node gets its tangent and every edge the term it
  contributes;
* :meth:`Graph.reverse_pass` pulls a cotangent back (the VJP rules), so every
  node gets its adjoint and every edge the contribution it carries; a value
  used several times receives the sum of its contributions;
* :meth:`Graph.stored_values` lists what the VJP rules *read* from the
  forward sweep, as each rule declares it where it is registered.

:func:`draw` and :func:`animate` draw a graph with Graphviz (top to bottom,
as SVG that scales with the page); :func:`animate` gives a step-through of a
pass with previous / next / play buttons::

    import adlib.numpy as anp
    from adlib import graph

    def f(x, y):
        return y * anp.sin(x)

    g = graph.trace(f, 0.5, 2.0)
    graph.draw(g, mode="reverse")          # stored values and adjoints
    graph.animate(g, mode="forward")       # step by step, for a notebook or a page

The modules, one idea each: ``record`` (recording a trace),
``structure`` (the graph and what reverse mode stores),
``passes`` (the two passes), ``picture`` (what
a picture or a frame shows), ``dot`` (layout and SVG with
Graphviz), ``drawing`` (drawings and step-throughs).
"""
from adlib.graph.drawing import Drawing, StepThrough, animate, animation_html, draw
from adlib.graph.nodes import (Edge, GraphArgumentError, GraphNode, StoredValue,
                               UnknownNodeError)
from adlib.graph.passes import Pass
from adlib.graph.record import trace
from adlib.graph.rules import ANS
from adlib.graph.structure import Graph

__all__ = ["trace", "Graph", "GraphNode", "Edge", "StoredValue", "Pass", "ANS",
           "draw", "animate", "animation_html", "Drawing", "StepThrough",
           "UnknownNodeError", "GraphArgumentError"]
