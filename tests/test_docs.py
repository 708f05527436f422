"""The README stays one short tour, and every relative link in it and in docs/ leads somewhere.

Links are checked as GitHub renders them: a path relative to the page, and for `#anchor` links
into a markdown page a heading of that page (GitHub's anchors: lowercase, spaces to `-`,
punctuation other than `-` and `_` dropped, `-1`, `-2`, … for repeats). Links inside code
(fenced blocks and inline spans) are text, not links.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from conftest import ROOT

README_MAX_BYTES = 16_000
VERBS = ("factory.generate", "factory.filter", "factory.publish", "factory.train_student", "factory.evaluate")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]

_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _prose_lines(text: str) -> list[str]:
    """The page's lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def github_anchor(heading: str) -> str:
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)                       # \w keeps letters, digits, _
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in _prose_lines(page.read_text(encoding="utf-8")):
        m = _HEADING.match(line)
        if not m:
            continue
        slug = github_anchor(m.group(2))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def links(page: Path) -> list[str]:
    found = []
    for line in _prose_lines(page.read_text(encoding="utf-8")):
        found += _LINK.findall(_INLINE_CODE.sub("", line))
    return found


def test_github_anchor_rules():
    assert github_anchor("`factory.train_student`") == "factorytrain_student"
    assert github_anchor("Reliability: what the factory promises") == "reliability-what-the-factory-promises"
    assert github_anchor("The miniature lab (`make demo`)") == "the-miniature-lab-make-demo"
    assert github_anchor("The demo's results") == "the-demos-results"


def test_readme_is_short():
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes (at most {README_MAX_BYTES}): move detail to docs/"


def test_readme_names_every_verb_and_both_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for needle in (*VERBS, "make demo", "make test"):
        assert needle in text, f"README.md does not mention {needle}"


def test_docs_pages_exist():
    for name in ("README", "generate", "filter", "publish", "train_student", "evaluate", "ray", "cpu",
                 "formats", "extending", "lab", "reliability"):
        assert (ROOT / "docs" / f"{name}.md").is_file(), f"docs/{name}.md is missing"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:, …
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / unquote(path)).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
            continue
        if anchor and dest.is_file() and dest.suffix == ".md" and unquote(anchor) not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)
