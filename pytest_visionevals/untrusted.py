"""Untrusted text made safe to show: model answers, YAML strings, server messages, catalogs.

One owner for every place text is shown:

* ``printable`` for terminals and CI logs (and the HTML report, which Jinja2 also
  autoescapes): control characters (C0, DEL, C1, so every ESC sequence) and the bidi
  overrides that reorder what a reviewer sees ("Trojan Source") become visible escapes
  such as ``\\x1b`` and ``\\u202e``.
* ``md_text`` / ``md_code`` / ``md_fence`` for GitHub-flavoured Markdown (``--vision-md``,
  ``$GITHUB_STEP_SUMMARY``): no link, image, raw HTML, autolink, mention, issue reference,
  emoji or math can come out of the text, and the reader still sees its characters.

Leaf module: imports nothing from the package.
"""

from __future__ import annotations

import re
import reprlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

# C0 controls, DEL, C1 controls (U+009B is a one-character CSI), and the bidi embeddings,
# overrides and isolates (U+202A-U+202E, U+2066-U+2069).
_UNSAFE_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_MULTILINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    short = _SHORT.get(ch)
    if short is not None:
        return short
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object, *, multiline: bool = False) -> str:
    """``text`` with every control and bidi character shown as an escape (``\\x1b``).

    ``multiline`` keeps line feeds and tabs (a traceback, a multi-line error); CR LF is
    read as a line end there, and a lone CR (which rewrites the line) is escaped.
    """
    s = str(text)
    if multiline:
        return _UNSAFE_MULTILINE.sub(_escape, s.replace("\r\n", "\n"))
    return _UNSAFE_ONE_LINE.sub(_escape, s)


# -- Markdown ---------------------------------------------------------------------------------
# GitHub acts on these after Markdown is rendered, so a backslash cannot stop them: @mentions
# and e-mail autolinks (not "pass@3": a word character before "@" and no dot after it),
# #123 / GH-123 references, :emoji: shortcodes, $math$; URL and www. autolinks are matched
# on the raw text. A word holding one is shown as a code span instead, where GitHub does
# none of it (github/markup#1168: "\@" still mentions, `@` does not).
_GITHUB_ACTIVE = re.compile(
    r"(?<!\w)@|@[\w.+-]*\.|\$|#\w|(?i:\bgh-\d)|:[\w+-]+:|://|(?i:(?:^|[^a-z0-9])www\.)",
    re.ASCII,
)
# CommonMark inline syntax: escapes, code, emphasis, strikethrough, links and images, raw
# HTML and autolinks, entities, table pipes. "_" between letters or digits cannot emphasise
# and is left alone (readable snake_case); "." before a letter is escaped so that linkify
# renderers (markdown-it, VS Code) see no bare domain ("evil.com"). "<", ">" and "&" become
# entities, which no Markdown flavour reads as a tag.
_MD_SPECIAL = re.compile(r"[\\`*~\[\]<>&|]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|\.(?=[A-Za-z])")
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
_WORD = re.compile(r"\S+")
_NEWLINES = re.compile(r"\r\n|[\r\n\t]")


def _one_line(text: object) -> str:
    # Line breaks would end a table row or a list item: they read as spaces.
    return printable(_NEWLINES.sub(" ", str(text)))


def _code_span(s: str, in_table: bool) -> str:
    if in_table:
        # GFM splits table rows on unescaped pipes before it sees code spans; "\|" inside a
        # code span in a table shows as "|".
        s = s.replace("|", "\\|")
    run = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (run + 1)
    pad = " " if s.startswith(("`", " ")) or s.endswith(("`", " ")) else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def md_code(text: object, *, in_table: bool = False) -> str:
    """``text`` as one Markdown code span that its own backticks cannot close."""
    return _code_span(_one_line(text), in_table)


def _md_word(word: str, in_table: bool) -> str:
    if _GITHUB_ACTIVE.search(word):
        return _code_span(word, in_table)
    return _MD_SPECIAL.sub(lambda m: _ENTITIES.get(m.group()) or "\\" + m.group(), word)


def md_text(text: object, *, in_table: bool = False) -> str:
    """``text`` as inline Markdown that renders as exactly these characters, on one line.

    For inline positions only (a table cell, after a list marker): a line start could still
    begin a block (``#``, ``-``, ``1.``).
    """
    return _WORD.sub(lambda m: _md_word(m.group(), in_table), _one_line(text))


def md_fence(lines: Iterable[str]) -> list[str]:
    """A fenced code block showing ``lines`` verbatim: no line of them can close it."""
    body = [printable(line) for line in lines]
    run = max((len(m) for line in body for m in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, run + 1)
    return [fence, *body, fence]


def shorten(text: str, limit: int = 200) -> str:
    """An answer or a server message inside a message of ours: one line, at most ``limit``
    characters."""
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


# Values quoted in error messages come from the user's file and may be huge or deeply
# nested (an alias bomb): reprlib cuts strings and containers *before* building the text.
_repr = reprlib.Repr()
_repr.maxlevel = 3
_repr.maxstring = _repr.maxother = 80
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 6


def short_repr(value: object, limit: int = 100) -> str:
    """``repr(value)`` inside a message of ours, bounded whatever the size of ``value``."""
    return shorten(_repr.repr(value), limit)
