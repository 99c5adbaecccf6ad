"""OCR metrics (CER, WER, ANLS) and the ocr assertion."""

from __future__ import annotations

import pytest

from pytest_visionevals.assertions import default_registry
from pytest_visionevals.assertions.base import AnswerContext, Verdict
from pytest_visionevals.assertions.ocr import anls, cer, normalize_ocr, wer


def run(raw: object, text: str) -> Verdict:
    return default_registry().parse(raw).evaluate(AnswerContext(text=text))


def test_metrics() -> None:
    assert cer("hello", "hello") == 0.0
    assert cer("hello", "hallo") == pytest.approx(0.2)
    assert cer("", "") == 0.0
    assert cer("", "x") == 1.0
    assert wer("the cat sat", "the bat sat") == pytest.approx(1 / 3)
    assert wer("the cat sat", "the cat sat down") == pytest.approx(1 / 3)
    assert anls("hello", "hello") == 1.0
    assert anls("hello", "hallo") == pytest.approx(0.8)
    assert anls("abcd", "wxyz") == 0.0  # NL >= 0.5 -> 0
    assert anls("", "") == 1.0


def test_normalisation_options() -> None:
    assert normalize_ocr("  Hello,\n  World! ") == "hello, world!"
    assert normalize_ocr("Hello, World!", ignore_punctuation=True) == "hello world"
    assert normalize_ocr("Hello", case_sensitive=True) == "Hello"
    assert normalize_ocr("```\nTOTAL 12.50\n```") == "total 12.50"
    assert normalize_ocr('"Exit"') == "exit"


def test_ocr_pass_fail_and_explanation() -> None:
    assert run({"ocr": "TOTAL: $12.50"}, "Total: $12.50").passed
    v = run({"ocr": "TOTAL: $12.50"}, "Total: $12.80")
    assert v.passed  # 1 char in 13: CER 0.077 <= 0.1
    v = run({"ocr": {"text": "TOTAL: $12.50", "max_cer": 0.05}}, "Total: $12.80")
    assert not v.passed
    assert v.explanation.startswith("CER 0.077 > 0.05 (CER 0.077, WER 0.500, ANLS 0.923)")
    assert "expected 'total: $12.50', got 'total: $12.80'" in v.explanation
    assert v.score == pytest.approx(1 - 1 / 13)


def test_ocr_case_and_punctuation() -> None:
    assert not run({"ocr": {"text": "EXIT", "case_sensitive": True, "max_cer": 0}}, "Exit").passed
    assert run(
        {"ocr": {"text": "Hello, world", "ignore_punctuation": True, "max_cer": 0}}, "hello world!"
    ).passed


def test_anls_criterion_replaces_default_cer() -> None:
    raw = {"ocr": {"text": "invoice 2024", "min_anls": 0.5}}
    v = run(raw, "invoice 2O2A")  # CER 0.17 > default 0.1, ANLS 0.83
    assert v.passed
    assert v.score == pytest.approx(1 - 2 / 12)
    raw2 = {"ocr": {"text": "invoice 2024", "min_anls": 0.5, "max_cer": 0.1}}
    assert not run(raw2, "invoice 2O2A").passed
    assert not run({"ocr": {"text": "the cat sat", "max_wer": 0.2}}, "the bat sat").passed
