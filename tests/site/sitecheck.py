"""Check pages of the built site in a real headless browser (Debian's chromium).

One `SiteChecker` drives chromium through chromedriver (selenium, with the system
driver at /usr/bin/chromedriver, so nothing is downloaded). For each page it

* waits until MathJax has typeset the page, then reports math that was not typeset,
  MathJax error boxes (``mjx-merror``, with the TeX that caused them) and raw TeX
  delimiters (``$$``, ``\\(``, ``\\[``, ``\\begin{``) left in the visible text;
* reports every ``<img>`` that did not load (``naturalWidth == 0``);
* resolves every local link (``href``/``src``) and reports missing files and
  missing ``#anchors``;
* reports every SEVERE entry of the browser console (uncaught exceptions,
  ``console.error``, failed loads of local resources);
* reports scripts, styles or MathJax loaded from the network (the site must
  work offline);
* at 1400×1000 (the size at which the book is read on a desktop), reports what the
  reader should not see (issue 16): typeset math (a display formula, a derivation of
  ``adlib.symbolic``) wider than the text column, input code blocks that scroll sideways, visible test
  plumbing or build paths (``NBVAL``, ``Traceback (most recent call last)``,
  ``Exception reporting mode``, ``/tmp/``, ``site-packages``, the build machine's
  checkout path), images without alt text or without a caption, links to a repository
  (repository/issues buttons, Binder, Colab) when none is configured in
  ``_config.yml``, and a stream output split into several boxes.
"""

from __future__ import annotations

import html.parser
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[2]
# ADLIB_SITE: check a site built elsewhere (e.g. `jupyter-book build --path-output`)
SITE = Path(os.environ.get("ADLIB_SITE", ROOT / "_build" / "html"))

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",  # we run as root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
]

# Folders of the build that hold no pages of their own: `_static` holds the theme's
# assets and MathJax, `_sources` holds plain-text copies of the sources (served to the
# download button, checked as link targets).
NOT_PAGES = ("_static", "_sources")

# SEVERE console entries that are not ours to fix. Each entry: (regex, reason).
# Keep this list empty unless a third-party asset logs an error that does not
# affect the reader, and say why next to the pattern.
ALLOWED_CONSOLE_ERRORS: list[tuple[str, str]] = []

RAW_TEX = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{")

# Text a reader must never see on a page: test plumbing, tracebacks, build paths.
PLUMBING = [
    (re.compile(r"NBVAL\w*"), "an nbval marker"),
    (re.compile(r"Traceback \(most recent call last\)"), "a full traceback"),
    (re.compile(r"Exception reporting mode"), "the output of %xmode"),
    (re.compile(r"(?<![\w.])/tmp/\S*"), "a temporary build path"),
    (re.compile(r"\S*site-packages\S*"), "an installation path"),
    (re.compile(re.escape(str(ROOT)) + r"\S*"), "the path of the build machine's checkout"),
]

# Hosts of launch buttons: a link there names a repository.
LAUNCH_HOSTS = ("mybinder.org", "colab.research.google.com")


def configured_repository(root: Path = ROOT) -> str:
    """``owner/name`` of the repository set in ``_config.yml`` (``repository: url:``),
    or ``""`` when none is configured."""
    text = (root / "_config.yml").read_text(encoding="utf-8")
    m = re.search(r"^repository:\s*\n(?:[ \t]+.*\n)*?[ \t]+url:[ \t]*(.*)$", text, re.M)
    url = (m.group(1).split("#")[0].strip().strip("'\"") if m else "")
    m = re.match(r"https?://[^/]+/([^/]+/[^/#?]+)", url)
    return m.group(1).removesuffix(".git") if m else ""
EXTERNAL = re.compile(r"^(?:https?:)?//", re.I)


def site_pages(site: Path = SITE) -> list[Path]:
    """Every HTML page of the built site, sorted."""
    pages = []
    for path in sorted(site.rglob("*.html")):
        rel = path.relative_to(site)
        if rel.parts[0] in NOT_PAGES:
            continue
        pages.append(path)
    return pages


# ---------------------------------------------------------------------------
# static checks on the HTML source


class _SourceScanner(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.external_loads: list[str] = []
        self.math_elements = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key])
        if "math" in (a.get("class") or "").split():
            self.math_elements += 1
        url = None
        if tag == "script":
            url = a.get("src")
        elif tag == "link" and "stylesheet" in (a.get("rel") or "").split():
            url = a.get("href")
        elif tag in ("img", "iframe", "source", "audio", "video"):
            url = a.get("src")
        if url and EXTERNAL.match(url):
            self.external_loads.append(f"<{tag}> loads {url}")


@lru_cache(maxsize=None)
def scan_source(path: Path) -> _SourceScanner:
    scanner = _SourceScanner()
    scanner.feed(path.read_text(encoding="utf-8", errors="replace"))
    scanner.close()
    return scanner


def static_problems(path: Path) -> list[str]:
    """Problems visible in the HTML file itself, without a browser."""
    problems = []
    for load in scan_source(path).external_loads:
        kind = "MathJax from the network" if "mathjax" in load.lower() else "a network resource"
        problems.append(f"page loads {kind} (the site must work offline): {load}")
    return problems


# ---------------------------------------------------------------------------
# the browser


_WAIT_JS = r"""
const done = arguments[arguments.length - 1];
const timeout = new Promise(resolve => setTimeout(() => resolve('timeout'), 15000));
const mathjax = (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise)
  ? window.MathJax.startup.promise.then(() => 'typeset', e => 'mathjax failed: ' + e)
  : Promise.resolve('no mathjax');
const images = Promise.all(Array.from(document.images).map(img => {
  img.loading = 'eager';
  return img.complete ? null : new Promise(r => { img.onload = r; img.onerror = r; });
}));
Promise.race([Promise.all([mathjax, images]).then(r => r[0]), timeout]).then(done);
"""

_COLLECT_JS = r"""
const out = {};
const MJ = window.MathJax;
out.mathjax = !!(MJ && MJ.version);
out.mathElements = document.querySelectorAll('.math').length;
out.containers = document.querySelectorAll('mjx-container').length;
out.untypeset = Array.from(document.querySelectorAll('.math'))
  .filter(el => !el.querySelector('mjx-container'))
  .map(el => el.textContent.trim().slice(0, 120));
// MathJax error boxes, with the TeX source when MathJax still knows it
const sources = new Map();
if (MJ && MJ.startup && MJ.startup.document && MJ.startup.document.math) {
  for (const item of MJ.startup.document.math) {
    if (item.typesetRoot) sources.set(item.typesetRoot, item.math);
  }
}
out.merrors = Array.from(document.querySelectorAll('mjx-merror')).map(err => {
  const box = err.closest('mjx-container');
  const tex = box && sources.has(box) ? sources.get(box) : '?';
  return (err.getAttribute('data-mjx-error') || err.textContent) + ' in: ' + tex;
});
// visible text outside code, scripts and typeset math
const body = document.body.cloneNode(true);
body.querySelectorAll('pre, code, script, style, textarea, mjx-container, mjx-assistive-mml, .highlight')
  .forEach(el => el.remove());
out.text = body.textContent;
out.images = Array.from(document.images).map(img => ({
  src: img.currentSrc || img.src, ok: img.complete && img.naturalWidth > 0,
}));
const urls = [];
document.querySelectorAll('a[href], link[href]').forEach(el => urls.push(el.href));
document.querySelectorAll('script[src], img[src], iframe[src], source[src]').forEach(el => urls.push(el.src));
out.urls = urls;
out.ids = Array.from(document.querySelectorAll('[id]')).map(el => el.id)
  .concat(Array.from(document.querySelectorAll('a[name]')).map(el => el.name));
return out;
"""


_READER_JS = r"""
const out = {wideMath: [], scrollingCode: [], images: [], links: [], splitStreams: []};
const col = document.querySelector('article.bd-article') || document.querySelector('main')
  || document.body;
const box = col.getBoundingClientRect(), style = getComputedStyle(col);
const left = box.left + parseFloat(style.paddingLeft);
const right = box.right - parseFloat(style.paddingRight);
out.column = right - left;
const sources = new Map();
const MJ = window.MathJax;
if (MJ && MJ.startup && MJ.startup.document && MJ.startup.document.math) {
  for (const item of MJ.startup.document.math) {
    if (item.typesetRoot) sources.set(item.typesetRoot, item.math);
  }
}
// display formulas and derivations (inline math in a table that scrolls is not counted)
col.querySelectorAll('mjx-container[display="true"], .adlib-derivation mjx-container')
  .forEach(c => {
  const math = c.querySelector('mjx-math') || c;
  const r = math.getBoundingClientRect();
  if (r.width > 0 && (r.right > right + 1 || r.left < left - 1)) {
    out.wideMath.push({width: r.width, tex: sources.get(c) || c.textContent});
  }
});
col.querySelectorAll('.cell_input pre').forEach(pre => {
  if (pre.offsetParent !== null && pre.scrollWidth > pre.clientWidth + 1) {
    const lines = pre.textContent.split('\n');
    const line = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
    out.scrollingCode.push({scroll: pre.scrollWidth, width: pre.clientWidth, line: line});
  }
});
out.text = document.body.innerText;
col.querySelectorAll('img').forEach(img => {
  if ((img.getAttribute('src') || '').includes('_static/')) return;  // the theme's icons
  const figure = img.closest('figure');
  const caption = figure ? figure.querySelector('figcaption') : null;
  out.images.push({src: img.getAttribute('src') || '', alt: img.getAttribute('alt') || '',
                   caption: caption ? caption.textContent : ''});
});
const header = document.querySelectorAll(
  '.bd-header-article a[href], .article-header-buttons a[href], .header-article-items a[href]');
const inHeader = new Set(header);
document.querySelectorAll('a[href]').forEach(a => {
  if (!/^https?:/.test(a.href)) return;
  out.links.push({href: a.href, header: inHeader.has(a)});
});
col.querySelectorAll('.cell_output').forEach(o => {
  let run = 0, text = '';
  const kinds = Array.from(o.children).map(el => el.classList.contains('stream') ? 'stdout'
    : el.classList.contains('stderr') ? 'stderr' : 'other');
  for (let k = 0; k < kinds.length; k++) {
    run = (k > 0 && kinds[k] !== 'other' && kinds[k] === kinds[k - 1]) ? run + 1 : 1;
    if (run === 2) {
      out.splitStreams.push({boxes: 2, text: o.children[k - 1].textContent.trim()});
    }
  }
});
return out;
"""


@dataclass
class PageReport:
    path: Path
    problems: list[str] = field(default_factory=list)
    math_elements: int = 0
    containers: int = 0
    images: int = 0
    links: int = 0

    def __str__(self) -> str:
        lines = [f"{self.path}: {len(self.problems)} problem(s)"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class SiteChecker:
    """A headless chromium session that checks one page at a time."""

    def __init__(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        for exe in (CHROMIUM, CHROMEDRIVER):
            if not Path(exe).exists():
                raise RuntimeError(
                    f"{exe} not found: install Debian's chromium and chromium-driver "
                    "(`apt-get install chromium chromium-driver`, done by .ci/run)"
                )
        self._profile = tempfile.mkdtemp(prefix="sitecheck-profile-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS + [f"--user-data-dir={self._profile}"]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        self.driver.set_script_timeout(30)
        self.driver.set_page_load_timeout(60)

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> "SiteChecker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- one page --------------------------------------------------------

    def check(self, path: Path) -> PageReport:
        path = path.resolve()
        report = PageReport(path)
        report.problems += static_problems(path)

        self.driver.get_log("browser")  # drop entries left over from the previous page
        self.driver.get(path.as_uri())
        state = self.driver.execute_async_script(_WAIT_JS)
        if state == "timeout" or str(state).startswith("mathjax failed"):
            report.problems.append(f"page did not settle: {state}")
        time.sleep(0.05)  # let errors thrown from timers reach the log
        data = self.driver.execute_script(_COLLECT_JS)

        report.math_elements = data["mathElements"]
        report.containers = data["containers"]
        report.images = len(data["images"])
        report.links = len(data["urls"])

        self._check_math(report, path, data)
        self._check_reader_view(report)
        for img in data["images"]:
            if not img["ok"]:
                report.problems.append(f"image did not load: {img['src']}")
        self._check_links(report, path, data)
        self._check_console(report)
        return report

    def _check_math(self, report: PageReport, path: Path, data: dict) -> None:
        has_math = scan_source(path).math_elements > 0 or data["mathElements"] > 0
        if has_math and not data["mathjax"]:
            report.problems.append("page has math but MathJax did not load")
        if has_math and data["containers"] == 0:
            report.problems.append("page has math but nothing was typeset (no mjx-container)")
        for tex in data["untypeset"]:
            report.problems.append(f"math not typeset: {tex!r}")
        for err in data["merrors"]:
            report.problems.append(f"MathJax error: {err}")
        for m in RAW_TEX.finditer(data["text"]):
            context = data["text"][max(0, m.start() - 40): m.end() + 40]
            context = " ".join(context.split())
            report.problems.append(f"raw TeX {m.group()!r} in the rendered text: ...{context}...")

    def _check_reader_view(self, report: PageReport) -> None:
        view = self.driver.execute_script(_READER_JS)
        for item in view["wideMath"]:
            report.problems.append(
                f"math wider than the text column: {item['width']:.0f} px in a "
                f"{view['column']:.0f} px column: {item['tex'][:100]!r}")
        for item in view["scrollingCode"]:
            report.problems.append(
                f"input code block scrolls sideways ({item['scroll']} px of "
                f"{item['width']} px): {item['line'][:80]!r}")
        for pattern, what in PLUMBING:
            for m in pattern.finditer(view["text"]):
                context = " ".join(view["text"][max(0, m.start() - 40): m.end() + 40].split())
                report.problems.append(f"visible {what}: {m.group()!r} in ...{context}...")
        for img in view["images"]:
            if not img["alt"].strip():
                report.problems.append(f"image without alt text: {img['src']}")
            if not img["caption"].strip():
                report.problems.append(f"image without a caption: {img['src']}")
        repo = configured_repository()
        for link in view["links"]:
            host = urlsplit(link["href"]).hostname or ""
            names_repo = link["header"] or host.endswith(LAUNCH_HOSTS)
            if names_repo and not repo:
                report.problems.append("link to a repository, but none is configured in "
                                       f"_config.yml: {link['href']}")
            elif names_repo and repo not in link["href"]:
                report.problems.append(f"link to a repository other than the configured "
                                       f"{repo}: {link['href']}")
        for item in view["splitStreams"]:
            report.problems.append(f"stream output split into {item['boxes']} boxes: "
                                   f"{item['text'][:80]!r}")

    def _check_links(self, report: PageReport, path: Path, data: dict) -> None:
        own_ids = set(data["ids"])
        seen = set()
        for url in data["urls"]:
            if url in seen:
                continue
            seen.add(url)
            parts = urlsplit(url)
            if parts.scheme != "file":
                continue  # http(s), mailto, javascript: not checked offline
            target = Path(unquote(parts.path))
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                report.problems.append(f"broken link: {url} (no file {target})")
                continue
            fragment = unquote(parts.fragment)
            if not fragment or target.suffix != ".html":
                continue
            ids = own_ids if target == path else scan_source(target).ids
            if fragment not in ids:
                report.problems.append(f"broken anchor: {url} (no id {fragment!r} in {target.name})")

    def _check_console(self, report: PageReport) -> None:
        for entry in self.driver.get_log("browser"):
            if entry.get("level") != "SEVERE":
                continue
            message = entry.get("message", "")
            if any(re.search(pattern, message) for pattern, _reason in ALLOWED_CONSOLE_ERRORS):
                continue
            report.problems.append(f"console error: {message}")
