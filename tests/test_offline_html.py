"""The build-time filter in _ext/offline_html.py removes exactly matplotlib's CDN link."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "_ext"))
from offline_html import strip_cdn_links  # noqa: E402

matplotlib = pytest.importorskip("matplotlib")


def test_animation_html_loses_only_the_cdn_link():
    import matplotlib.pyplot as plt
    from matplotlib import animation

    fig, ax = plt.subplots(figsize=(2, 2))
    (line,) = ax.plot([], [])
    anim = animation.FuncAnimation(fig, lambda i: line.set_data([0, i], [0, i]) or (line,), frames=2)
    html = anim.to_jshtml()
    plt.close(fig)

    assert "https://" in html and "font-awesome" in html, "matplotlib's template changed: revisit _ext/offline_html.py"
    cleaned = strip_cdn_links(html)
    assert "https://" not in cleaned and "http://" not in cleaned
    # exactly the <link> tag (and the whitespace after it) is gone, nothing else
    start = html.index("<link")
    end = html.index(">", start) + 1
    assert cleaned == html[:start] + html[end:].lstrip()
    for needle in ('class="fa fa-play"', "anim-controls", "data:image/png;base64"):
        assert needle in cleaned


def test_other_links_are_kept():
    html = '<link rel="stylesheet" href="../_static/local.css"><p>text</p>'
    assert strip_cdn_links(html) == html
