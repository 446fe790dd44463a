"""Sphinx extension of the book: fixes that the browser test (tests/notebooks/test_browser.py) needs.

- The inline scripts of sphinx-thebe and sphinx-togglebutton reach every page twice (once with
  the filename None, once with ""), so each page declares ``THEBE_JS_URL`` twice and the
  browser reports a SyntaxError. Duplicate scripts are dropped per page.
- pydata-sphinx-theme logs "invalid theme mode" on a first visit when the page context has
  no ``default_mode`` (sphinx-book-theme accepts no such option): it is set to ``auto``.

The handler runs early (priority 100): Sphinx stops calling ``html-page-context`` handlers at
the first one that returns a template name.
"""

from __future__ import annotations


def _fix_page(app, pagename, templatename, context, doctree) -> None:
    if not context.get("default_mode"):
        context["default_mode"] = "auto"
    scripts = context.get("script_files")
    if not scripts:
        return
    seen = set()
    kept = []
    for js in scripts:
        # the copies differ only in an inline script's filename: None in one, "" in the other
        attributes = getattr(js, "attributes", {}) or {}
        key = (getattr(js, "filename", js) or "", tuple(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    scripts[:] = kept


def setup(app):
    """Register the fixes."""
    app.connect("html-page-context", _fix_page, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
