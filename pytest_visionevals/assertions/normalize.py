"""Text normalisation shared by the text, label and OCR assertions.

``normalize_answer`` (used by ``equals``, ``contains``, ``one_of``, ``label``, ``yes_no``):

1. Unicode NFKC (full-width letters, ligatures, non-breaking spaces become plain ones),
   curly quotes and apostrophes become straight ones.
2. Markdown emphasis and code markers that wrap text are removed: ``**No**``, ``__x__``,
   ``*x*``, `` `x` ``; a fenced code block is replaced by its content.
3. Case folding (unless case-sensitive) and whitespace collapsed to single spaces.
4. Surrounding quotes and trailing ``. ! , ; :`` are stripped, repeatedly. Nothing else:
   a leading minus, a decimal point followed by a digit and a trailing ``?`` are kept,
   because removing them could change the meaning.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import BeforeValidator

_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
    }
)
_FENCE = re.compile(r"```[\w+-]*[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)(?=\S)(.+?)(?<=\S)\1")
_TRAILING = ".!,;:"
_WRAPPERS = (('"', '"'), ("'", "'"), ("(", ")"), ("[", "]"))


def unicode_clean(text: str) -> str:
    """NFKC plus straight quotes; keeps case and spacing."""
    return unicodedata.normalize("NFKC", text).translate(_QUOTES)


def strip_markdown(text: str) -> str:
    """Unwrap code fences and inline emphasis markers; the words themselves stay."""
    text = _FENCE.sub(lambda m: m.group(1), text)
    prev = None
    while prev != text:  # nested emphasis: ***x*** or **`x`**
        prev = text
        text = _EMPHASIS.sub(lambda m: m.group(2), text)
    return text


def collapse_ws(text: str) -> str:
    return " ".join(text.split())


def strip_edges(text: str) -> str:
    """Remove surrounding quotes/brackets and trailing sentence punctuation, repeatedly."""
    prev = None
    while prev != text:
        prev = text
        text = text.strip()
        while text and text[-1] in _TRAILING:
            text = text[:-1].rstrip()
        for left, right in _WRAPPERS:
            # Only a wrapper around the whole text: '"cat"' yes, '"a" or "b"' no.
            if (
                len(text) >= 2
                and text[0] == left
                and text[-1] == right
                and text[1:-1].count(left) == 0
                and text[1:-1].count(right) == 0
            ):
                text = text[1:-1]
    return text


def normalize_answer(text: str, *, case_sensitive: bool = False) -> str:
    """The documented normalisation for comparing short answers (see module docstring)."""
    text = strip_markdown(unicode_clean(text))
    if not case_sensitive:
        text = text.casefold()
    return strip_edges(collapse_ws(text))


def words_pattern(phrase: str) -> str:
    """A regex for ``phrase`` as whole words, any whitespace/hyphen between its words.

    Word boundaries are ``(?<!\\w)`` / ``(?!\\w)`` so "bolt" does not match "bolts" or
    "unbolted", while "hex-bolt" does contain "bolt".
    """
    parts = [re.escape(p) for p in re.split(r"[\s_-]+", phrase.strip()) if p]
    return r"(?<!\w)" + r"[\s_-]+".join(parts) + r"(?!\w)"


def require_text(value: object) -> object:
    """Reject YAML scalars that are not strings where text is compared.

    YAML turns ``yes`` into True, ``1.50`` into 1.5 and ``0123`` into 83: converting them
    back to text silently would compare against the wrong string.
    """
    if isinstance(value, bool):
        raise ValueError('YAML read this as a boolean; quote it ("yes") or use yes_no')
    if isinstance(value, (int, float)):
        raise ValueError(
            f"YAML read this as the number {value!r}; quote it to compare text "
            '("1.50"), or use number / count'
        )
    if isinstance(value, list):
        for item in value:
            require_text(item)
    return value


# Field types that refuse YAML's non-string scalars (see ``require_text``), for every
# assertion that compares text.
Text = Annotated[str, BeforeValidator(require_text)]
Texts = Annotated[list[str], BeforeValidator(require_text)]
TextOrTexts = Annotated[str | list[str], BeforeValidator(require_text)]
