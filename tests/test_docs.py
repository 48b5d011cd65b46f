"""The docs hold together: every link lands, every command named exists, the README stays short.

Read from the files as they are in the checkout: README.md and every page under docs/. No database.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
SCREENSHOTS = DOCS / "screenshots"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]
# The product's own Python: its apps, plumbing, tests, benchmarks and tools.
PRODUCT_PACKAGES = [
    "oms_core",
    "oms_site",
    "orders",
    "inventory",
    "shipping",
    "notifications",
    "tests",
    "bench",
    "tools",
]
README_MAX_LINES = 200

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
# [text](target) and ![alt](target), with an optional "title"; the text may hold `code` and brackets of its own.
LINK = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto:, ...
MANAGE_COMMAND = re.compile(r"manage\.py\s+([a-z_][a-z0-9_]*)")
# How a change was once tracked has no place in the product: it speaks of the product itself.
TRACKING_WORDS = re.compile(r"\b(session|issue)[\s_-]*#?\d+", re.IGNORECASE)


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def prose_lines(path: Path) -> list[tuple[int, str]]:
    """The page's lines outside fenced code blocks, numbered from 1."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: the text as shown, lower-cased, punctuation dropped, spaces to '-'."""
    text = LINK.sub(lambda m: m.group(2), heading)  # a link in a heading shows its text
    text = INLINE_CODE.sub(lambda m: m.group(2), text)
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("*", "")  # emphasis markers
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every heading's anchor in a Markdown file; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose_lines(path):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def links(path: Path) -> list[tuple[int, bool, str]]:
    """(line, is an image, target) of every Markdown link on the page, code left out."""
    found = []
    for number, line in prose_lines(path):
        # Inline code is not a link: blank it out, keeping the link text's code (`[`x`](y)`) intact enough.
        text = INLINE_CODE.sub(lambda m: "`" + "x" * len(m.group(2)) + "`", line)
        for match in LINK.finditer(text):
            found.append((number, match.group(1) == "!", match.group(3)))
    return found


def broken_link(page: Path, target: str) -> str | None:
    """Why a relative link from ``page`` does not land, or None when it does."""
    path_part, _, anchor = target.partition("#")
    destination = (page.parent / path_part).resolve() if path_part else page
    if not destination.exists():
        return f"{relative(destination)} does not exist"
    if anchor:
        if destination.suffix != ".md":
            return f"#{anchor} points into {relative(destination)}, which has no headings"
        if anchor not in anchors(destination):
            return f"{relative(destination)} has no heading whose anchor is #{anchor}"
    return None


def test_every_relative_link_lands_on_a_file_and_heading_that_exist():
    # given README.md and every page of docs/
    broken = []
    for page in PAGES:
        for number, _, target in links(page):
            if EXTERNAL.match(target):
                continue
            # when a link names a file (and maybe a heading) relative to its page
            problem = broken_link(page, target)
            # then the file exists and, for #anchor links, so does the heading
            if problem:
                broken.append(f"{relative(page)}:{number}: ({target}) {problem}")
    assert broken == []


def test_every_image_is_a_screenshot_that_exists_in_docs_screenshots():
    wrong = []
    for page in PAGES:
        for number, image, target in links(page):
            if not image:
                continue
            destination = (page.parent / target.partition("#")[0]).resolve()
            if destination.parent != SCREENSHOTS or not destination.is_file():
                wrong.append(f"{relative(page)}:{number}: {target}")
    assert wrong == []


def test_no_page_sends_the_reader_outside_the_repository_for_the_design():
    # The design and the house style are docs/development/architecture.md and conventions.md, in the checkout.
    outside = re.compile(r"shared/(DESIGN|STYLE|LIBRARIES)\.md")
    cited = [
        f"{relative(page)}:{number}: {match.group(0)}"
        for page in PAGES
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1)
        for match in outside.finditer(line)
    ]
    assert cited == []


def test_the_readme_fits_on_a_couple_of_screens():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; keep it to {README_MAX_LINES}"


def product_files() -> list[Path]:
    files = [README, *sorted(DOCS.rglob("*.md")), ROOT / "bench" / "README.md"]
    for package in PRODUCT_PACKAGES:
        files += sorted((ROOT / package).rglob("*.py"))
    return files


def test_no_page_or_module_speaks_of_the_session_or_issue_it_came_from():
    found = []
    for path in product_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = TRACKING_WORDS.search(line)
            if match:
                found.append(f"{relative(path)}:{number}: {match.group(0)!r}")
    assert found == []


@pytest.fixture(scope="module")
def management_commands() -> set[str]:
    """What `manage.py help` lists, and help itself."""
    from django.core.management import get_commands

    return {*get_commands(), "help"}


def test_every_manage_py_command_the_docs_name_exists(management_commands):
    unknown = []
    for page in PAGES:
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
            for command in MANAGE_COMMAND.findall(line):
                if command not in management_commands:
                    unknown.append(f"{relative(page)}:{number}: manage.py {command}")
    assert unknown == []


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Tracking: the carriers' webhook", "tracking-the-carriers-webhook"),
        ("CSV import (measured by hand)", "csv-import-measured-by-hand"),
        ("`random_page_cost`", "random_page_cost"),
        (
            "The console's order list: `admin_order_list.py` (`make bench`)",
            "the-consoles-order-list-admin_order_listpy-make-bench",
        ),
        ("Where the code departs from the original design", "where-the-code-departs-from-the-original-design"),
        ("Redis is down", "redis-is-down"),
    ],
)
def test_anchors_are_made_as_github_makes_them(heading, anchor):
    assert slug(heading) == anchor


def test_a_link_to_a_missing_heading_or_file_is_reported(tmp_path):
    # given a page with a heading, and links to it, to a heading it lacks and to a file that is not there
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## The steps, and the services\n\n## Notes\n\n## Notes\n", encoding="utf-8")
    anchors.cache_clear()
    try:
        # then only the wrong ones are reported
        assert broken_link(page, "#the-steps-and-the-services") is None
        assert broken_link(page, "#notes-1") is None
        assert "no heading" in broken_link(page, "#the-steps")
        assert "does not exist" in broken_link(page, "missing.md")
    finally:
        anchors.cache_clear()
