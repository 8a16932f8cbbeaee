"""Book-wide page rules, checked on every notebook under book/ (issue 16, item 3).

What a reader sees must not carry test plumbing or scroll sideways:

* ``line-length``: every line of every code cell is at most 88 characters (the width
  of the text column at 1400 px);
* ``nbval-comment``: no ``NBVAL`` comments (nbval markers are cell tags:
  ``nbval-ignore-output``, ``raises-exception``, ...);
* ``figure``: a cell that shows an image has a caption and alt text (myst-nb figure
  metadata), and a glued figure has a ``{glue:figure}`` directive with ``:name:``,
  ``:alt:`` and a caption, referenced with ``{numref}``; either way its plotting code is
  hidden (``hide-input``, or the cell removed);
* ``trailing-semicolon``: no statement ends with ``;`` (assign to ``_`` or call
  ``plt.show()``);
* ``xmode``: ``%xmode`` only in cells tagged ``remove-cell``.

Each rule is one test per notebook that lists every violation with its cell (index and
id), and each rule is shown to catch a planted defect in a small notebook.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").rglob("*.ipynb"))
NOTEBOOKS = [p for p in NOTEBOOKS if ".ipynb_checkpoints" not in p.parts]
MAX_LINE = 88
HIDDEN = {"hide-input", "remove-input", "remove-cell"}
GLUE_IMAGE = re.compile(r"^application/papermill\.record/image/")
GLUE_CALL = re.compile(r"""\bglue\(\s*["']([^"']+)["']""")
FENCE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{glue:figure\}\s*(?P<name>\S+)[^\n]*\n"
                   r"(?P<body>.*?)^(?P=fence)\s*$", re.M | re.S)


def where(index: int, cell) -> str:
    return f"cell {index} (id {cell.get('id', '?')})"


def tags(cell) -> set:
    return set(cell.get("metadata", {}).get("tags", []))


def code_cells(nb):
    return [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]


# ---- the rules ------------------------------------------------------------------------------

def long_lines(nb) -> list[str]:
    out = []
    for i, cell in code_cells(nb):
        for k, line in enumerate(cell.source.splitlines(), 1):
            if len(line) > MAX_LINE:
                out.append(f"{where(i, cell)} line {k}: {len(line)} characters > {MAX_LINE}: "
                           f"{line[:60]}...")
    return out


def nbval_comments(nb) -> list[str]:
    out = []
    for i, cell in code_cells(nb):
        for k, line in enumerate(cell.source.splitlines(), 1):
            if re.search(r"#.*\bNBVAL", line):
                out.append(f"{where(i, cell)} line {k}: {line.strip()} (use a cell tag)")
    return out


def _python_lines(source: str) -> str:
    """The source with IPython magics and shell lines blanked (tokenize cannot read them)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def trailing_semicolons(nb) -> list[str]:
    out = []
    for i, cell in code_cells(nb):
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(_python_lines(cell.source)
                                                               + "\n").readline))
        except (tokenize.TokenError, IndentationError, SyntaxError):
            continue
        for tok, nxt in zip(tokens, tokens[1:]):
            if tok.type == tokenize.OP and tok.string == ";" and nxt.type in (
                    tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT, tokenize.ENDMARKER):
                out.append(f"{where(i, cell)} line {tok.start[0]}: trailing ';' "
                           "(assign to _ or call plt.show())")
    return out


def xmode_outside_removed_cells(nb) -> list[str]:
    out = []
    for i, cell in code_cells(nb):
        if re.search(r"^\s*%xmode", cell.source, re.M) and "remove-cell" not in tags(cell):
            out.append(f"{where(i, cell)}: %xmode in a cell not tagged remove-cell")
    return out


def _glue_figures(nb) -> dict:
    """``{name: (options, caption)}`` of every ``{glue:figure}`` directive."""
    out = {}
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for m in FENCE.finditer(cell.source):
            options, caption, in_options = {}, [], True
            for line in m.group("body").splitlines():
                opt = re.match(r"^:(\w[\w-]*):\s*(.*)$", line)
                if in_options and opt:
                    options[opt.group(1)] = opt.group(2).strip()
                elif in_options and line.startswith("  ") and options:
                    continue  # an option value continued on the next line
                else:
                    in_options = False
                    caption.append(line)
            out[m.group("name")] = (options, "\n".join(caption).strip())
    return out


def figures(nb) -> list[str]:
    out = []
    directives = _glue_figures(nb)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for i, cell in code_cells(nb):
        shown = [o for o in cell.get("outputs", [])
                 if any(k.startswith("image/") for k in o.get("data", {}))]
        glued_images = [o for o in cell.get("outputs", [])
                        if any(GLUE_IMAGE.match(k) for k in o.get("data", {}))]
        if not (shown or glued_images):
            continue
        if not tags(cell) & HIDDEN:
            out.append(f"{where(i, cell)}: plotting code shown; tag the cell hide-input")
        if shown:
            meta = cell.get("metadata", {}).get("mystnb", {})
            caption = meta.get("figure", {}).get("caption")
            alt = meta.get("image", {}).get("alt")
            if "remove-output" not in tags(cell) and not (caption and alt):
                out.append(f"{where(i, cell)}: an image without caption and alt text (glue it "
                           "and use {glue:figure} with :alt:, or set mystnb figure/image "
                           "metadata)")
        for output in glued_images:
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is None:
                found = GLUE_CALL.findall(cell.source)
                name = found[0] if len(found) == 1 else None
            if name is None:
                continue
            if name not in directives:
                out.append(f"{where(i, cell)}: glued figure {name!r} has no {{glue:figure}} "
                           "directive")
                continue
            options, caption = directives[name]
            missing = [k for k in ("name", "alt") if not options.get(k)]
            if missing:
                out.append(f"{where(i, cell)}: {{glue:figure}} {name} lacks "
                           + ", ".join(f":{k}:" for k in missing))
            if not caption:
                out.append(f"{where(i, cell)}: {{glue:figure}} {name} has no caption")
            label = options.get("name")
            if label and f"{{numref}}`{label}`" not in markdown and not re.search(
                    r"\{numref\}`[^`]*<" + re.escape(label) + ">`", markdown):
                out.append(f"{where(i, cell)}: figure {label} is never referenced with "
                           "{numref}")
    return out


RULES = {
    "line-length": long_lines,
    "nbval-comment": nbval_comments,
    "figure": figures,
    "trailing-semicolon": trailing_semicolons,
    "xmode": xmode_outside_removed_cells,
}


@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.relative_to(ROOT).as_posix()
                                                  for p in NOTEBOOKS])
def test_notebook_follows_the_page_rules(path, rule):
    nb = nbformat.read(path, as_version=4)
    problems = RULES[rule](nb)
    assert not problems, f"{path.relative_to(ROOT)} breaks '{rule}':\n  " + "\n  ".join(
        problems)


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 10


# ---- each rule catches a planted defect -----------------------------------------------------

def notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    for k, cell in enumerate(nb.cells):
        cell["id"] = f"c{k}"
    return nb


def code(source, tags=(), outputs=(), **metadata):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata.update(metadata)
    if tags:
        cell.metadata["tags"] = list(tags)
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def md(source):
    return nbformat.v4.new_markdown_cell(source)


PNG = {"output_type": "display_data", "metadata": {},
       "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}}
GLUED = {"output_type": "display_data",
         "metadata": {"scrapbook": {"name": "fig-a", "mime_prefix":
                                    "application/papermill.record/"}},
         "data": {"application/papermill.record/image/png": "iVBORw0KGgo=",
                  "application/papermill.record/text/plain": "<Figure>"}}
DIRECTIVE = ("See {numref}`fig-a`.\n\n```{glue:figure} fig-a\n:name: fig-a\n"
             ":alt: A line going up.\n\nThe line goes up.\n```\n")


def test_a_long_line_is_reported():
    nb = notebook(code("x = 1\n" + "y = " + "1 + " * 30 + "1"))
    (problem,) = long_lines(nb)
    assert problem.startswith("cell 0 (id c0) line 2: 125 characters")
    assert long_lines(notebook(code("x = 1  # " + "a" * 78))) == []  # exactly 88


def test_an_nbval_comment_is_reported():
    nb = notebook(code("# NBVAL_IGNORE_OUTPUT\nprint(1)"), code("x = 'NBVAL'"))
    assert [p[:14] for p in nbval_comments(nb)] == ["cell 0 (id c0)"]


def test_a_trailing_semicolon_is_reported():
    nb = notebook(code("%matplotlib inline\nplt.plot(x);"), code("s = 'a;'\nx = 1; y = 2"),
                  code("ax.plot(x);  # quiet"))
    problems = trailing_semicolons(nb)
    assert [p[:14] for p in problems] == ["cell 0 (id c0)", "cell 2 (id c2)"], problems


def test_xmode_outside_a_removed_cell_is_reported():
    nb = notebook(code("%xmode Minimal", tags=["remove-cell"]), code("%xmode Minimal"))
    assert [p[:14] for p in xmode_outside_removed_cells(nb)] == ["cell 1 (id c1)"]


def test_figure_rules_catch_each_planted_defect():
    good = notebook(code("glue('fig-a', fig, display=False)", ["hide-input"], [GLUED]),
                    md(DIRECTIVE))
    assert figures(good) == []
    shown_code = notebook(code("glue('fig-a', fig, display=False)", outputs=[GLUED]),
                          md(DIRECTIVE))
    assert "tag the cell hide-input" in " ".join(figures(shown_code))
    no_alt = notebook(code("glue('fig-a', fig)", ["hide-input"], [GLUED]),
                      md(DIRECTIVE.replace(":alt: A line going up.\n", "")))
    assert ":alt:" in " ".join(figures(no_alt))
    no_caption = notebook(code("glue('fig-a', fig)", ["hide-input"], [GLUED]),
                          md(DIRECTIVE.replace("The line goes up.\n", "")))
    assert "no caption" in " ".join(figures(no_caption))
    no_directive = notebook(code("glue('fig-a', fig)", ["hide-input"], [GLUED]))
    assert "no {glue:figure} directive" in " ".join(figures(no_directive))
    unreferenced = notebook(code("glue('fig-a', fig)", ["hide-input"], [GLUED]),
                            md(DIRECTIVE.replace("See {numref}`fig-a`.", "")))
    assert "never referenced" in " ".join(figures(unreferenced))
    bare_image = notebook(code("plt.plot(x)\nplt.show()", ["hide-input"], [PNG]))
    assert "without caption and alt text" in " ".join(figures(bare_image))
    with_metadata = notebook(code("plt.plot(x)\nplt.show()", ["hide-input"], [PNG],
                                  mystnb={"figure": {"caption": "Up.", "name": "fig-b"},
                                          "image": {"alt": "A line going up."}}))
    assert figures(with_metadata) == []


# ---- honest links: repository buttons only with a configured repository -------------------

def test_repository_buttons_follow_the_one_setting(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "_ext"))
    import repository_buttons as rb

    for unset in ({}, {"repository_url": ""}, {"repository_url": "  "},
                  {"repository_url": rb.JUPYTER_BOOK_DEFAULT + "/"}):
        off = rb.buttons_for({**unset, "launch_buttons": {
            "binderhub_url": "https://mybinder.org", "colab_url": "https://colab", "thebe": 0}})
        assert not off["use_repository_button"] and not off["use_issues_button"]
        assert not any(off["launch_buttons"].get(k) for k in ("binderhub_url", "colab_url"))
    on = rb.buttons_for({"repository_url": "https://github.com/someone/adlib-book"})
    assert on["use_repository_button"] and on["use_issues_button"]
    assert on["launch_buttons"]["binderhub_url"] and on["launch_buttons"]["colab_url"]


def test_config_names_no_repository_that_the_buttons_would_need():
    """The default configuration sets the one setting to empty (left out, Jupyter Book
    would fill in its own repository) and switches no button on by itself."""
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert "url" in config.get("repository", {}), "keep `repository: url:` in _config.yml"
    html = config.get("html", {})
    assert not any(html.get(k) for k in ("use_repository_button", "use_issues_button"))
    launch = config.get("launch_buttons", {})
    assert not any(launch.get(k) for k in ("binderhub_url", "colab_url"))
    assert "repository_buttons" in config["sphinx"]["config"]["extensions"]
