"""Procedures' Markdown to HTML, safely: raw HTML is shown as text, links go only to safe places.

markdown-it-py's CommonMark parser with ``html`` off escapes every tag written in the text (``<script>``,
``<img onerror=…>``, ``<iframe>``), and its link check refuses ``javascript:``, ``vbscript:``, ``file:`` and
``data:`` targets (those stay as text). Links that leave the console open without the opener.
"""

from __future__ import annotations

import functools

from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

SAFE_SCHEMES = ("http:", "https:", "mailto:", "tel:")


@functools.cache
def _parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    parser.enable("table")
    parser.enable("strikethrough")
    default_validate = parser.validateLink

    def validate_link(url: str) -> bool:
        # Relative links (a console page, an anchor) and the schemes above; nothing that runs or embeds.
        target = url.strip().lower()
        if ":" in target.split("/", 1)[0] and not target.startswith(SAFE_SCHEMES):
            return False
        return default_validate(url)

    parser.validateLink = validate_link

    def link_open(renderer, tokens, idx, options, env):
        token = tokens[idx]
        if str(token.attrGet("href") or "").startswith(("http:", "https:")):
            token.attrSet("rel", "noopener noreferrer")
        return renderer.renderToken(tokens, idx, options, env)

    parser.add_render_rule("link_open", link_open)
    return parser


def render_markdown(text: str) -> SafeString:
    """The HTML of a procedure's Markdown; nothing in ``text`` becomes markup but Markdown's own."""
    # markdown-it escapes every character of the text it does not turn into Markdown's own tags.
    return mark_safe(_parser().render(text or ""))  # noqa: S308
