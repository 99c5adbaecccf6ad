"""Find the JSON value in a model answer: bare, fenced, wrapped in prose, or truncated.

Order of attempts (the first that yields a list or object wins):
1. the whole answer is JSON;
2. the first fenced code block (```json ... ```, even if the closing fence is missing);
3. the first ``{`` or ``[`` in the answer from which a complete JSON value decodes
   (prose before and after is ignored);
4. json-repair on the text from that first ``{`` / ``[`` (truncated output, trailing
   commas, single quotes); ``how == "repaired"`` tells the caller.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import json_repair

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class Extracted:
    value: Any
    how: str  # "json" | "fenced" | "embedded" | "repaired"


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _unclosed(text: str, start: int) -> bool:
    """True when the bracket at ``start`` is never closed: the JSON was cut off."""
    depth = 0
    in_str: str | None = None
    escaped = False
    for ch in text[start:]:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == in_str:
                in_str = None
        elif ch in "\"'":
            in_str = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth == 0:
                return False
    return True


def _embedded(text: str) -> Extracted | None:
    """The longest complete JSON value in prose; a cut-off outer value is repaired instead
    of returning one of its complete inner objects."""
    best: tuple[int, Any] | None = None
    pos = 0
    while True:
        m = re.compile(r"[\[{]").search(text, pos)
        if m is None:
            break
        try:
            value, end = _DECODER.raw_decode(text, m.start())
        except ValueError:
            if best is None and _unclosed(text, m.start()):
                repaired = _repair(text[m.start() :])
                return Extracted(repaired, "repaired") if repaired is not None else None
            pos = m.start() + 1
            continue
        if isinstance(value, (list, dict)) and (best is None or end - m.start() > best[0]):
            best = (end - m.start(), value)
        pos = end
    return Extracted(best[1], "embedded") if best is not None else None


def _repair(text: str) -> Any:
    start = re.search(r"[\[{]", text)
    if start is None:
        return None
    try:
        value = json_repair.repair_json(text[start.start() :], return_objects=True)
    except Exception:  # json-repair is best effort; any failure means "no JSON"
        return None
    return value if isinstance(value, (list, dict)) and value else None


def extract_json(text: str) -> Extracted | None:
    """The JSON list/object in ``text`` (see module docstring), or None."""
    stripped = text.strip()
    value = _loads(stripped)
    if isinstance(value, (list, dict)):
        return Extracted(value, "json")
    for m in _FENCE.finditer(stripped):
        body = m.group(2).strip()
        value = _loads(body)
        if isinstance(value, (list, dict)):
            return Extracted(value, "fenced")
        inner = _embedded(body)
        if inner is not None:
            return Extracted(inner.value, "fenced" if inner.how == "embedded" else inner.how)
        value = _repair(body)
        if value is not None:
            return Extracted(value, "repaired")
    found = _embedded(stripped)
    if found is not None:
        return found
    value = _repair(stripped)
    if value is not None:
        return Extracted(value, "repaired")
    return None
