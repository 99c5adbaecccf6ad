"""Read numbers out of free-form model answers, refusing to guess.

Rules (documented in docs/assertions.md, tested in tests/test_assert_numparse.py):

* Digits with an optional sign (``-`` or the unicode minus ``−``) and decimals: ``27``,
  ``-3``, ``2.5``, ``.5``, ``1.2e-3``. A ``.`` is always a decimal point, never a
  thousands separator: ``2.428`` is 2.428.
* Thousands separators: a comma (or a thin / narrow no-break space) followed by groups of
  exactly three digits: ``2,428`` is 2428, ``1,234,567.5`` is 1234567.5. A comma that is
  not a valid thousands group between digits (``1,5``, ``1,23``, ``12,3456``) may be a
  decimal comma or a list; it is reported as ambiguous and the parse refuses.
* Number words up to the billions: ``twenty-seven``, ``one hundred and five``,
  ``two thousand four hundred twenty-eight``, ``a hundred``, ``minus three``. Digits
  followed by a scale word are multiplied: ``1.5 million``.
* Not numbers: ordinals (``3rd``, ``27th``), digits glued to letters (``H2O``, ``3D``,
  ``4K``; except known units such as ``12cm`` and ``45%``), the pronoun ``one`` (``the
  one on the left``, ``this one``, ``no one``), list markers (lines starting ``1.``,
  ``2.``, ... numbered consecutively from 1, at least two of them).
* Zero: ``zero``, ``none`` and ``no`` before a plural noun ("there are no bottles").
* Vague quantities are never numbers: ``a dozen``, ``a couple``, ``a few``. A number
  followed by ``dozen`` (``two dozen``) is reported as ambiguous rather than read as 2.
* One answer, one number: :func:`parse_single_number` fails with ``ambiguous: found 26 and
  27`` when two different values appear; the same value repeated ("27. There are 27
  bottles") is fine. An explicit answer marker wins over the rest: ``Final answer: 27``,
  ``The answer is 27``, ``Total: 27``, ``a total of 27``, ``In total, there are 27``
  (when all such markers agree).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "NumberMatch",
    "NumberParse",
    "find_numbers",
    "format_number",
    "parse_single_number",
]

UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
TEENS = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
SCALES = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_WORDS = sorted([*UNITS, *TEENS, *TENS, "hundred", *SCALES], key=len, reverse=True)

# Units that may be glued to digits ("12cm", "45%"); other letters make it not a number.
GLUED_UNITS = {
    "mm",
    "cm",
    "m",
    "km",
    "in",
    "ft",
    "kg",
    "g",
    "mg",
    "lb",
    "lbs",
    "oz",
    "ml",
    "l",
    "s",
    "ms",
    "px",
    "k",
    "%",
    "x",
    "h",
    "min",
}
# "k" and "x" are deliberately absent from the multiplier logic: "4k" stays not-a-number
# below unless the caller asks for unit "k" (it is ambiguous: 4000 or a resolution).
_GLUED_NOT_UNITS = {"k", "x"}

_SPACE_GROUP = re.compile(r"(?<=\d)[\u2009\u202f\u00a0](?=\d{3}(?!\d))")
_DIGITS = re.compile(
    r"""
    (?P<sign>(?<![\w.,])[-\u2212](?=\.?\d))?       # a sign only where no word/digit precedes
    (?P<num>
        \d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d|,\d)      # thousands groups: 2,428 / 1,234.5
      | \d+,\d+(?:,\d+)*                            # 1,5 / 1,2,3: ambiguous (decimal comma?)
      | \d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?!\.\d)      # 27 / 2.428 / 1e-3 (not 1.2.3)
      | \.\d+                                       # .5
    )
    """,
    re.VERBOSE,
)
_WORD_RUN = re.compile(
    r"\b(?:(?:a|" + "|".join(_WORDS) + r")\b(?:(?:\s+and\s+|[\s-]+)(?=[a-z]))?)+",
)
_TOKEN = re.compile(r"[a-z]+")
_PRONOUN_ONE = re.compile(
    r"\b(?:the|this|that|which|each|every|no|any|some|another|little|big|other|"
    r"red|blue|green|left|right|last|first|same)\s+one\b(?!\s+(?:hundred|thousand"
    r"|million|billion))",
)
_LIST_MARKER = re.compile(r"(?m)^[ \t]*(?:[-*][ \t]+)?(\d{1,2})[.)][ \t]+(?=\S)")
_ANSWER_MARKER = re.compile(
    r"(?i)\b(?:(?:final\s+answer|answer|total|count)[\"']?\s*(?:is\s*:?|:|=|\*\*:)"
    r"|(?:a\s+)?total\s+of|in\s+total,?(?:\s+there\s+(?:are|is|were))?)[*_`\s]*"
    r"(?:about\s+)?",
)
# Zero quantities: "none", and "no" before a plural noun ("there are no bottles"). A "no"
# before punctuation is a yes/no verdict, before a singular noun ("no damage") not a count.
_ZERO = re.compile(r"(?<![\w-])(?:none|no(?=\s+[a-z]+s\b))(?![\w-])")
_ORDINAL_SUFFIX = re.compile(r"(?i)(?:st|nd|rd|th)\b")
_NEGATIVE_WORD = re.compile(r"(?i)\b(?:minus|negative)\s+$")
_UNIT_AFTER = re.compile(r"\s*(%|°\s*[cf]\b|°|\"|''|'|″|′|[^\W\d_]+(?:\^?[23²³])?)", re.IGNORECASE)


@dataclass(frozen=True)
class NumberMatch:
    """One number found in a text; ``unit`` is the word right after it, lowercased."""

    value: float
    text: str
    start: int
    end: int
    unit: str | None = None
    ambiguous: str | None = None  # why this token cannot be read as one number

    @property
    def is_int(self) -> bool:
        return float(self.value).is_integer()


@dataclass(frozen=True)
class NumberParse:
    """Result of reading one number from an answer. ``error`` is None on success."""

    value: float | None
    matches: tuple[NumberMatch, ...]
    error: str | None = None
    via_marker: bool = False

    @property
    def match(self) -> NumberMatch | None:
        for m in self.matches:
            if self.value is not None and m.value == self.value and m.ambiguous is None:
                return m
        return None


def format_number(value: float) -> str:
    """27.0 -> '27', 2.5 -> '2.5': how numbers appear in explanations."""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _clean(text: str) -> str:
    # Thin spaces between digit groups are thousands separators: make them commas before
    # NFKC turns them into ordinary spaces (a plain space is never a separator).
    text = _SPACE_GROUP.sub(",", text)
    text = unicodedata.normalize("NFKC", text)
    return text.replace("\u2212", "-").replace("\u2013", "-").replace("\u2014", " - ")


def _lower(text: str) -> str:
    """Lowercase without changing the length, so offsets stay valid."""
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def _unit_after(text: str, end: int) -> tuple[str | None, bool]:
    """The unit word following position ``end`` and whether it was glued to the digits."""
    m = _UNIT_AFTER.match(text, end)
    if not m:
        return None, False
    return m.group(1).lower().replace(" ", ""), m.start(1) == end


def _list_marker_spans(text: str) -> set[int]:
    """Start offsets of list markers: lines numbered 1., 2., 3. ... (at least two)."""
    found = [(int(m.group(1)), m.start(1)) for m in _LIST_MARKER.finditer(text)]
    spans: set[int] = set()
    expected = 1
    run: list[int] = []
    for n, start in found:
        if n == expected:
            run.append(start)
            expected += 1
        else:
            if len(run) >= 2:
                spans.update(run)
            run, expected = ([start], 2) if n == 1 else ([], 1)
    if len(run) >= 2:
        spans.update(run)
    return spans


def _parse_sub100(tok: list[str], i: int) -> tuple[int, int] | None:
    if i >= len(tok):
        return None
    w = tok[i]
    if w in TEENS:
        return TEENS[w], i + 1
    if w in TENS:
        if i + 1 < len(tok) and tok[i + 1] in UNITS and tok[i + 1] != "zero":
            return TENS[w] + UNITS[tok[i + 1]], i + 2
        return TENS[w], i + 1
    if w in UNITS:
        return UNITS[w], i + 1
    return None


def _parse_group(tok: list[str], i: int) -> tuple[int, int] | None:
    """A value below 1000 (or 'nineteen hundred'-style up to 9999)."""
    if (
        i < len(tok)
        and tok[i] == "a"
        and i + 1 < len(tok)
        and (tok[i + 1] == "hundred" or tok[i + 1] in SCALES)
    ):
        first: tuple[int, int] | None = (1, i + 1)
    else:
        first = _parse_sub100(tok, i)
    if first is None:
        return None
    value, j = first
    if j < len(tok) and tok[j] == "hundred" and value > 0:
        value *= 100
        j += 1
        k = j + 1 if j < len(tok) and tok[j] == "and" else j
        rest = _parse_sub100(tok, k)
        if rest is not None and rest[0] > 0:
            value += rest[0]
            j = rest[1]
    return value, j


def _parse_words(tok: list[str], i: int) -> tuple[int, int] | None:
    """Longest valid number phrase starting at token i: groups with decreasing scales."""
    group = _parse_group(tok, i)
    if group is None:
        return None
    value, j = group
    total = 0
    last_scale = 10**12
    while j < len(tok) and tok[j] in SCALES and SCALES[tok[j]] < last_scale and value > 0:
        last_scale = SCALES[tok[j]]
        total += value * last_scale
        j += 1
        value = 0
        k = j + 1 if j < len(tok) and tok[j] == "and" else j
        nxt = _parse_group(tok, k)
        if nxt is None or nxt[0] == 0:
            break
        value, j = nxt
    return total + value, j


def _word_numbers(text: str, low: str) -> list[NumberMatch]:
    out: list[NumberMatch] = []
    pronoun_ones = {m.end() - 3 for m in _PRONOUN_ONE.finditer(low)}
    for run in _WORD_RUN.finditer(low):
        toks = [
            (m.group(), run.start() + m.start(), run.start() + m.end())
            for m in _TOKEN.finditer(run.group())
        ]
        words = [t[0] for t in toks]
        i = 0
        while i < len(words):
            if words[i] == "one" and toks[i][1] in pronoun_ones:
                i += 1
                continue
            parsed = _parse_words(words, i)
            if parsed is None or (words[i] == "a" and parsed[1] == i + 1):
                i += 1
                continue
            value, j = parsed
            start, end = toks[i][1], toks[j - 1][2]
            neg = _NEGATIVE_WORD.search(low[:start])
            if neg:
                start, value = neg.start(), -value
            unit, _glued = _unit_after(low, end)
            ambiguous = None
            if unit in {"dozen", "dozens", "score"}:
                ambiguous = f"{text[start:end]!r} {unit}: a vague multiple, not a number"
            out.append(NumberMatch(float(value), text[start:end], start, end, unit, ambiguous))
            i = j
    return out


def find_numbers(text: str) -> list[NumberMatch]:
    """Every number in ``text`` in reading order (see the module docstring for the rules).

    Offsets refer to the NFKC-normalised text; ``NumberMatch.text`` is the matched slice.
    """
    clean = _clean(text)
    low = _lower(clean)
    markers = _list_marker_spans(clean)
    out: list[NumberMatch] = []
    for m in _DIGITS.finditer(clean):
        start, end = m.start(), m.end()
        num = m.group("num")
        prev = clean[start - 1] if start > 0 else ""
        if (
            prev.isalpha()
            or prev.isdigit()
            or prev == "_"
            or (prev == "." and start > 1 and clean[start - 2].isdigit())
        ):
            continue  # H2O, A4, the tail of a version number 1.2.3
        if m.start("num") in markers:
            continue
        if _ORDINAL_SUFFIX.match(clean, end):
            continue  # 3rd, 27th: ordinals are labels, not quantities
        unit, glued = _unit_after(low, end)
        if (
            glued
            and unit is not None
            and unit[0].isalpha()
            and (unit not in GLUED_UNITS or unit in _GLUED_NOT_UNITS)
        ):
            continue  # 3D, 4K, 2x: not a plain number
        neg_word = _NEGATIVE_WORD.search(low[:start])
        sign = -1.0 if m.group("sign") or neg_word else 1.0
        if neg_word:
            start = neg_word.start()
        ambiguous = None
        if "," in num and not re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", num):
            ambiguous = (
                f"{num!r} is not a thousands group: a decimal comma or a list? write 1.5 or 1, 5"
            )
            value = 0.0
        else:
            value = float(num.replace(",", ""))
        if unit in SCALES or unit == "hundred":
            value *= SCALES.get(unit, 100)
            scale_end = low.index(unit, end) + len(unit)
            end = scale_end
            unit, _ = _unit_after(low, end)
        if unit in {"dozen", "dozens"}:
            ambiguous = f"{clean[start:end]!r} dozen: a vague multiple, not a number"
        out.append(NumberMatch(sign * value, clean[start:end], start, end, unit, ambiguous))
    out.extend(_word_numbers(clean, low))
    for z in _ZERO.finditer(low):
        out.append(NumberMatch(0.0, clean[z.start() : z.end()], z.start(), z.end(), None))
    out.sort(key=lambda n: n.start)
    return out


def _distinct(values: list[float]) -> list[float]:
    seen: list[float] = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen


def _marker_numbers(text: str, matches: list[NumberMatch]) -> list[NumberMatch]:
    """Numbers written right after an explicit answer marker ('Final answer: 27')."""
    clean = _clean(text)
    ends = [m.end() for m in _ANSWER_MARKER.finditer(clean)]
    return [n for n in matches if n.start in ends]


def parse_single_number(text: str, *, integer: bool = False) -> NumberParse:
    """The one number an answer states, or an error explaining why there is none."""
    matches = find_numbers(text)
    bad = [m for m in matches if m.ambiguous]
    good = [m for m in matches if not m.ambiguous]
    marked = _marker_numbers(text, good)
    if marked and len(_distinct([m.value for m in marked])) == 1 and not bad:
        return NumberParse(marked[0].value, tuple(matches), None, via_marker=True)
    if bad:
        return NumberParse(None, tuple(matches), f"ambiguous: {bad[0].ambiguous}")
    if not good:
        return NumberParse(None, (), "no number found")
    values = _distinct([m.value for m in good])
    if len(values) > 1:
        shown = ", ".join(format_number(v) for v in values[:-1])
        return NumberParse(
            None,
            tuple(matches),
            f"ambiguous: found {shown} and {format_number(values[-1])}",
        )
    value = values[0]
    if integer and not float(value).is_integer():
        return NumberParse(None, tuple(matches), f"{format_number(value)} is not a whole number")
    return NumberParse(value, tuple(matches))
