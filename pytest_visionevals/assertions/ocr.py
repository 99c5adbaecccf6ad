"""OCR assertion: character error rate, word error rate and ANLS against expected text.

When the answer introduces its transcription in prose with exactly one double-quoted span
(``The sign reads "EXIT ONLY".``, at most 12 words outside the quotes), the span is scored.

Normalisation (both sides): NFKC, curly quotes straightened, a fenced code block or
surrounding quotes / markdown emphasis unwrapped, whitespace collapsed; case folded unless
``case_sensitive``; with ``ignore_punctuation`` every unicode punctuation character is
removed (then whitespace collapsed again).

* CER = Levenshtein(chars) / len(expected); WER = Levenshtein(words) / number of expected
  words (both may exceed 1 when the answer is much longer; an empty expectation gives 0
  for an empty answer and 1 otherwise).
* ANLS (DocVQA): NL = Levenshtein / max(len(expected), len(answer)); ANLS = 1 - NL if
  NL < 0.5 else 0.
* Pass: every criterion set holds (``max_cer``, ``max_wer``, ``min_anls``). ``max_cer``
  defaults to 0.1, but only applies when no other criterion is given or it is set
  explicitly. Score = ANLS when ``min_anls`` is a criterion, else 1 - CER clipped to [0, 1].
"""

from __future__ import annotations

import re
import unicodedata
from typing import ClassVar

from pydantic import Field
from rapidfuzz.distance import Levenshtein

from pytest_visionevals.assertions.base import AnswerContext, Assertion, Verdict
from pytest_visionevals.assertions.normalize import (
    Text,
    collapse_ws,
    strip_edges,
    strip_markdown,
    unicode_clean,
)
from pytest_visionevals.untrusted import shorten

_QUOTED = re.compile(r'"([^"]+)"')
_INTRO = re.compile(r"(?i)\b(?:reads?|says?|text|written|states?|shows?|transcri\w*|label)\b")


def extract_transcription(answer: str) -> tuple[str, bool]:
    """The transcription inside an answer like ``The sign reads "EXIT ONLY".``: the one
    double-quoted span, when the prose around it introduces text. Else the answer."""
    text = unicode_clean(answer).strip()
    spans = _QUOTED.findall(text)
    if len(spans) == 1:
        outside = _QUOTED.sub(" ", text)
        if _INTRO.search(outside) and len(outside.split()) <= 12:
            return spans[0], True
    return answer, False


def normalize_ocr(
    text: str, *, case_sensitive: bool = False, ignore_punctuation: bool = False
) -> str:
    text = collapse_ws(strip_markdown(unicode_clean(text)))
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    if not case_sensitive:
        text = text.casefold()
    if ignore_punctuation:
        text = "".join(" " if unicodedata.category(c).startswith("P") else c for c in text)
        text = strip_edges(text)
    return collapse_ws(text)


def cer(expected: str, got: str) -> float:
    if not expected:
        return 0.0 if not got else 1.0
    return Levenshtein.distance(expected, got) / len(expected)


def wer(expected: str, got: str) -> float:
    ref, hyp = expected.split(), got.split()
    if not ref:
        return 0.0 if not hyp else 1.0
    return Levenshtein.distance(ref, hyp) / len(ref)


def anls(expected: str, got: str) -> float:
    longest = max(len(expected), len(got))
    if longest == 0:
        return 1.0
    nl = Levenshtein.distance(expected, got) / longest
    return 1.0 - nl if nl < 0.5 else 0.0


class Ocr(Assertion):
    """The answer transcribes ``text`` within CER / WER / ANLS limits."""

    type_name: ClassVar[str] = "ocr"
    shorthand: ClassVar[str | None] = "text"
    description: ClassVar[str] = "Answer transcribes text (CER / WER / ANLS thresholds)."
    text: Text
    max_cer: float | None = Field(default=0.1, ge=0)
    max_wer: float | None = Field(default=None, ge=0)
    min_anls: float | None = Field(default=None, ge=0, le=1)
    case_sensitive: bool = False
    ignore_punctuation: bool = False

    def _criteria(self) -> tuple[float | None, float | None, float | None]:
        use_cer = self.max_cer
        if "max_cer" not in self.model_fields_set and (
            self.max_wer is not None or self.min_anls is not None
        ):
            use_cer = None
        return use_cer, self.max_wer, self.min_anls

    def check(self, ctx: AnswerContext) -> Verdict:
        opts = {
            "case_sensitive": self.case_sensitive,
            "ignore_punctuation": self.ignore_punctuation,
        }
        want = normalize_ocr(self.text, **opts)
        answer, extracted = extract_transcription(ctx.text)
        got = normalize_ocr(answer, **opts)
        c, w, a = cer(want, got), wer(want, got), anls(want, got)
        max_cer, max_wer, min_anls = self._criteria()
        fails = []
        if max_cer is not None and c > max_cer:
            fails.append(f"CER {c:.3f} > {max_cer:g}")
        if max_wer is not None and w > max_wer:
            fails.append(f"WER {w:.3f} > {max_wer:g}")
        if min_anls is not None and a < min_anls:
            fails.append(f"ANLS {a:.3f} < {min_anls:g}")
        ok = not fails
        score = a if min_anls is not None else max(0.0, min(1.0, 1.0 - c))
        metrics = f"CER {c:.3f}, WER {w:.3f}, ANLS {a:.3f}"
        expl = (
            metrics
            if ok
            else (
                f"{'; '.join(fails)} ({metrics}): expected "
                f"{shorten(want, 120)!r}, got {shorten(got, 120)!r}"
            )
        )
        return Verdict(
            ok,
            score,
            expl,
            parsed=got,
            details={
                "cer": round(c, 4),
                "wer": round(w, 4),
                "anls": round(a, 4),
                "expected_text": want,
                "got_text": got,
                "quoted_span_used": extracted,
            },
        )


TYPES: list[type[Assertion]] = [Ocr]
