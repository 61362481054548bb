"""A Sphinx extension of the book (``make book``): drop the second copy of a script a page would load twice.

Jupyter Book 1.0 reads the sources twice, and sphinx-thebe 0.3.1 (and sphinx-togglebutton) add their configuration
script at each read, once named ``None`` and once ``''``: every page declared ``const THEBE_JS_URL`` twice, a
JavaScript error on every page.
"""


def _dedupe(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for script in context.get("script_files", []):
        attributes = tuple(sorted((getattr(script, "attributes", None) or {}).items()))
        key = (getattr(script, "filename", str(script)) or "", attributes)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
