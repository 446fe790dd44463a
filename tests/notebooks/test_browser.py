"""The built book in a real browser: Debian's chromium driven by playwright.

Uses the book that ``conftest.ci_book`` built from the CI run (no second build). Every page of
the table of contents must load without console errors or failed requests, show rendered math
(no raw TeX left), load every image, and link only to pages that exist. Screenshots of three
pages go to ``<results>/<run>/screenshots/``.
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest
import yaml

pytestmark = pytest.mark.notebooks

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ["intro", "_notebooks/report", "_notebooks/programming/03_lagrange"]
RAW_TEX = re.compile(r"\$\$|\\\(|\\\[|\\begin\{|\\frac\{|\\top\b|\\min_")


def toc_pages() -> list[str]:
    """The pages of ``_toc.yml`` (root first), without the ``.html`` suffix."""
    toc = yaml.safe_load((REPO / "book" / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc["parts"]:
        for chapter in part["chapters"]:
            pages.append(chapter["file"])
            pages.extend(s["file"] for s in chapter.get("sections", []))
    return pages


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no {CHROMIUM}: `make test` installs Debian's chromium where apt-get works")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(ci_book: Path):
    handler = functools.partial(_QuietHandler, directory=str(ci_book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 (signature of the base)
        pass


def _check_page(page, base: str, html: Path, name: str) -> list[str]:
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    response = page.goto(urljoin(base, f"{name}.html"), wait_until="networkidle")
    if response is None or not response.ok:
        return [f"HTTP {response.status if response else 'none'}"]
    has_math = page.evaluate("document.querySelectorAll('.math, div.math, span.math').length") > 0
    if has_math:
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
        if page.evaluate("document.querySelectorAll('mjx-container').length") == 0:
            problems.append("math present but MathJax rendered none")
    prose = page.evaluate(
        """() => { const b = document.querySelector('main') || document.body;
                   const c = b.cloneNode(true);
                   c.querySelectorAll('pre, code, script, style, mjx-container, .cell_output')
                    .forEach(e => e.remove());
                   return c.innerText; }"""
    )
    raw = RAW_TEX.search(prose)
    if raw:
        problems.append(f"raw TeX left: ...{prose[max(raw.start() - 40, 0) : raw.end() + 40]!r}...")
    broken = page.evaluate(
        "Array.from(document.images)"
        ".filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
    )
    problems.extend(f"image did not load: {src}" for src in broken)
    for href in page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"):
        url = urlparse(href)
        if not href.startswith(base) or not url.path:
            continue  # external links and pure fragments are not checked offline
        target = html / unquote(url.path[len(urlparse(base).path) :])
        if target.is_dir():
            target = target / "index.html"
        if not target.exists():
            problems.append(f"broken internal link: {href}")
    return problems


def test_every_toc_page_loads_renders_math_images_and_links(
    browser, server, ci_book, ci_run
) -> None:
    summary, _ = ci_run
    shots = summary.results_dir / "screenshots"
    if shots.exists():
        shutil.rmtree(shots)
    shots.mkdir(parents=True)
    failures = {}
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    for name in toc_pages():
        page = context.new_page()
        problems = _check_page(page, server, ci_book, name)
        if name in SCREENSHOTS:
            page.screenshot(path=str(shots / f"{name.replace('/', '_')}.png"), full_page=False)
        page.close()
        if problems:
            failures[name] = problems[:5]
    context.close()
    assert not failures, failures
    assert sorted(p.name for p in shots.iterdir()) == sorted(
        f"{n.replace('/', '_')}.png" for n in SCREENSHOTS
    )
    assert all(p.stat().st_size > 10_000 for p in shots.iterdir()), "blank screenshots"


def test_intro_math_is_typeset(browser, server) -> None:
    page = browser.new_page()
    page.goto(urljoin(server, "intro.html"), wait_until="networkidle")
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("() => MathJax.startup.promise")
    assert page.evaluate("document.querySelectorAll('mjx-container').length") >= 2
    page.close()
