"""Each page's scripts once: under Sphinx 7.4, sphinx-thebe and sphinx-togglebutton register
their inline configuration twice, and the second ``const THEBE_JS_URL`` is a SyntaxError in
every page's console."""

from __future__ import annotations

from typing import Any


def _unique(app, pagename, templatename, context, doctree) -> None:
    seen, unique = set(), []
    for script in context.get("script_files", []):
        # An inline script is registered once with the file name None and once with "".
        key = getattr(script, "attributes", {}).get("body") or str(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app) -> dict[str, Any]:
    app.connect("html-page-context", _unique, priority=900)  # after every script is added
    return {"parallel_read_safe": True, "parallel_write_safe": True}
