"""Sphinx extension: keep notebook HTML outputs free of network loads.

Matplotlib's ``Animation.to_jshtml()`` output starts with a ``<link>`` to Font
Awesome 4 on a CDN, for the icons of its play/step buttons. The book's theme
already ships Font Awesome (the same ``fa fa-play`` icons render without the
link), and offline the link only fails and logs a console error. This extension
drops such stylesheet links from raw HTML outputs when the site is written; the
stored notebooks are left untouched.
"""

from __future__ import annotations

import re

from docutils import nodes

FONT_AWESOME_CDN_LINK = re.compile(
    r"<link\b[^>]*\bhref=[\"']https?://[^\"']*font-awesome[^\"']*\.css[\"'][^>]*>\s*",
    re.IGNORECASE,
)


def strip_cdn_links(html: str) -> str:
    """Return `html` without Font Awesome stylesheet links to the network."""
    return FONT_AWESOME_CDN_LINK.sub("", html)


def _strip_in_doctree(app, doctree: nodes.document, docname: str) -> None:
    for node in list(doctree.findall(nodes.raw)):
        if "html" not in node.get("format", "").split():
            continue
        text = node.astext()
        cleaned = strip_cdn_links(text)
        if cleaned != text:
            node[:] = [nodes.Text(cleaned)]


def setup(app):
    app.connect("doctree-resolved", _strip_in_doctree)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
