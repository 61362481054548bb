"""The study as a website: the docs and the executed notebooks of the committed studies, rendered by Jupyter Book
(its Sphinx-based 1.x line, which builds offline). Nothing is executed: the notebooks are rendered as committed.

    python -m perturb_lib.book            # make book: build/book/_build/html/index.html
    python -m perturb_lib.book --check    # make book-check: open pages in headless Chromium, fail on errors

The book's sources are assembled in ``build/book/`` (the docs, the committed studies' figures and executed
notebooks, a generated ``_config.yml`` and ``_toc.yml``), so the repository holds each page once.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from .paths import PROJECT_ROOT
from .readme import DOCS, STUDIES

BOOK = PROJECT_ROOT / "build" / "book"
HTML = BOOK / "_build" / "html"
#: the studies' notebooks in the book, by the title of their part
PARTS = {"fer2013-cpu": "The real study, executed (FER2013)", "cpu": "The synthetic default, executed"}
#: what the check requires: (page, what must be on it, why)
EXPECTED = (("docs/results-fer2013-cpu.html", "what would decide it", "the claims table"),
            ("figures/fer2013-cpu/notebooks/03_perturb_scheme.html", "Figure 4", "Figure 4"))


def assemble() -> Path:
    """Copy the docs, the committed studies' figures and executed notebooks into ``build/book`` and write the book's
    configuration and table of contents."""
    if BOOK.exists():
        shutil.rmtree(BOOK)
    shutil.copytree(DOCS, BOOK / "docs")
    chapters = [{"file": f"docs/{p.stem}"} for p in sorted(DOCS.glob("*.md")) if p.stem != "index"]
    parts = [{"caption": "The docs", "chapters": chapters}]
    for study in STUDIES:
        root = PROJECT_ROOT / "figures" / study
        if not (root / "notebooks").is_dir():
            continue
        shutil.copytree(root, BOOK / "figures" / study, ignore=shutil.ignore_patterns("records", "*.pdf", "*.npz",
                                                                                      "results"))
        notebooks = sorted((BOOK / "figures" / study / "notebooks").glob("*.ipynb"))
        parts.append({"caption": PARTS.get(study, study),
                      "chapters": [{"file": f"figures/{study}/notebooks/{p.stem}"} for p in notebooks]})
    (BOOK / "_toc.yml").write_text(yaml.safe_dump({"format": "jb-book", "root": "docs/index", "parts": parts},
                                                  sort_keys=False))
    (BOOK / "_config.yml").write_text(yaml.safe_dump({
        "title": "Leaving Some Facial Features Behind: a reproducible study", "author": "the study's contributors",
        "only_build_toc_files": True, "execute": {"execute_notebooks": "off"},
        "html": {"use_repository_button": False}, "launch_buttons": {"thebe": False},
        # docs/_ext/dedupe_scripts.py: without it every page declares sphinx-thebe's configuration twice
        "sphinx": {"config": {"suppress_warnings": ["myst.header"]},
                   "local_extensions": {"dedupe_scripts": "docs/_ext"}},
    }, sort_keys=False))
    return BOOK


def build(out=print) -> Path:
    """Assemble and build the book; returns its index page."""
    assemble()
    out(f"building {BOOK} (Jupyter Book, no execution) ...")
    done = subprocess.run([str(Path(sys.executable).with_name("jupyter-book")), "build", str(BOOK), "--quiet"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"jupyter-book failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    index = HTML / "index.html"
    if not index.is_file():
        index.write_text('<meta http-equiv="refresh" content="0; url=docs/index.html">')
    out(f"the book: {index}")
    return index


def chromium() -> str | None:
    """A headless browser: Debian's ``chromium`` (``apt-get install chromium``)."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def check(out=print) -> list[str]:
    """Open the book's index and notebook 03 in headless Chromium: a page that logs a JavaScript error or fails to
    load a resource, or lacks what it must show (the claims table, Figure 4), is a problem. Returns the problems."""
    browser = chromium()
    if browser is None:
        return ["no headless Chromium: apt-get install chromium"]
    problems = []
    for page, needle, what in (("index.html", "reproducible study", "the book's title"),) + EXPECTED:
        path = HTML / page
        if not path.is_file():
            problems.append(f"{page}: not built")
            continue
        with tempfile.TemporaryDirectory() as profile:
            done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                                   "--no-first-run", "--disable-background-networking", "--disable-component-update",
                                   "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr",
                                   "--v=0", "--virtual-time-budget=5000", "--dump-dom", path.as_uri()],
                                  capture_output=True, text=True, timeout=120)
        dom, log = done.stdout, done.stderr
        errors = [line for line in log.splitlines() if re.search(r"Uncaught|CONSOLE.*[Ee]rror|Failed to load", line)
                  and "favicon" not in line]
        if done.returncode != 0 or not dom:
            problems.append(f"{page}: Chromium failed ({done.returncode}): {log[-500:]}")
        problems += [f"{page}: {line.strip()}" for line in errors]
        if needle not in dom:
            problems.append(f"{page}: {what} is not on the page (no {needle!r})")
        elif what == "Figure 4" and "<img" not in dom:
            problems.append(f"{page}: no image on the page")
        out(f"{page}: {'ok' if not problems else 'checked'} ({len(dom):,} characters)")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m perturb_lib.book", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="build, then open its pages in headless Chromium")
    a = ap.parse_args(argv)
    build()
    if a.check:
        problems = check()
        for p in problems:
            print(f"problem: {p}", file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
