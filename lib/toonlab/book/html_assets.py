"""Sphinx extension for the HTML book: each inline script once.

Extensions that add an inline script after the builder started (sphinx-thebe's ``const THEBE_JS_URL``,
sphinx-togglebutton's selector) reach Sphinx 7.4's HTML builder twice: once directly with filename
``None`` and once from the registry with filename ``''``, which its de-duplication treats as different.
Every page then declared ``const THEBE_JS_URL`` twice, a SyntaxError in the browser's console (found by
the browser check, toonlab.book.browser). Listed in _config.yml's ``sphinx.extra_extensions``.
"""

from __future__ import annotations


def script_key(script) -> tuple:
    filename = getattr(script, "filename", script) or ""
    attributes = getattr(script, "attributes", {}) or {}
    return str(filename), getattr(script, "priority", 500), tuple(sorted(attributes.items()))


def unique_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        key = script_key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    # Late priority: after the themes have added their scripts to the page context.
    app.connect("html-page-context", unique_scripts, priority=900)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
