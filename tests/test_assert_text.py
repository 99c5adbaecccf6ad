"""Text assertions and the documented normalisation."""

from __future__ import annotations

import pytest

from pytest_visionevals.assertions import default_registry
from pytest_visionevals.assertions.base import AnswerContext, Verdict
from pytest_visionevals.assertions.normalize import normalize_answer
from pytest_visionevals.assertions.registry import ExpectError


def run(raw: object, text: str) -> Verdict:
    return default_registry().parse(raw).evaluate(AnswerContext(text=text))


@pytest.mark.parametrize(
    ("text", "norm"),
    [
        ("**No**", "no"),
        ('"Paris."', "paris"),
        ("  The   Cat. ", "the cat"),
        ("-3.", "-3"),
        ("2.5", "2.5"),
        ("yes?", "yes?"),  # a question mark may change meaning: kept
        ("ＡＢＣ", "abc"),  # NFKC
        ("\u201cquoted\u201d", "quoted"),
        ("```\nhello\n```", "hello"),
        ('"a" or "b"', '"a" or "b"'),  # quotes that do not wrap the whole answer stay
        ("***bold***!", "bold"),
    ],
)
def test_normalisation(text: str, norm: str) -> None:
    assert normalize_answer(text) == norm


def test_equals() -> None:
    assert run({"equals": "Paris"}, "**Paris.**").passed
    assert not run({"equals": "Paris"}, "The capital is Paris.").passed
    assert not run({"equals": {"value": "Paris", "case_sensitive": True}}, "paris").passed
    assert run({"equals": "42"}, "42.").passed
    assert not run({"equals": "-3"}, "3").passed
    v = run({"equals": "cat"}, "A dog.")
    assert v.explanation == "expected 'cat', got 'A dog.' (normalised 'a dog')"


def test_contains() -> None:
    assert run({"contains": "red"}, "It is RED.").passed
    assert run({"contains": ["red", "car"]}, "a red car").passed
    v = run({"contains": ["red", "car"]}, "a red bus")
    assert not v.passed
    assert v.score == 0.5
    assert "missing 'car'" in v.explanation
    assert run({"contains": {"value": ["red", "car"], "all": False}}, "a red bus").passed


def test_regex() -> None:
    assert run({"regex": r"\b27\b"}, "There are 27.").passed
    assert run({"regex": {"pattern": r"\d+", "full": True}}, " 27 ").passed
    assert not run({"regex": {"pattern": r"\d+", "full": True}}, "27 bottles").passed
    assert not run({"regex": {"pattern": "abc", "ignore_case": False}}, "ABC").passed
    with pytest.raises(ExpectError) as err:
        default_registry().parse({"regex": "("})
    assert err.value.path == "expect.regex"
    assert "invalid regular expression" in err.value.message


def test_one_of() -> None:
    assert run({"one_of": ["cat", "kitten"]}, "Kitten.").passed
    assert not run({"one_of": ["cat", "kitten"]}, "not a cat").passed


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("bolt", True),
        ("It is a hex bolt.", True),
        ("Bolts.", True),  # via synonym
        ("**Bolt**", True),
        ("unbolted", False),
        ("thunderbolt", False),
        ("This is not a bolt, it is a screw.", False),
        ("It is a screw.", False),
        ("A bolt next to a nut", False),  # forbidden
    ],
)
def test_label(text: str, ok: bool) -> None:
    raw = {"label": {"label": "bolt", "synonyms": ["bolts", "hex bolt"], "forbidden": ["nut"]}}
    assert run(raw, text).passed is ok


def test_label_without_synonyms_uses_word_boundaries() -> None:
    assert not run({"label": "bolt"}, "bolts").passed
    v = run({"label": "bolt"}, "a washer")
    assert v.explanation == "expected 'bolt', got 'a washer'"


@pytest.mark.parametrize(
    ("text", "value", "ok"),
    [
        ("Yes.", "yes", True),
        ("yes", True, True),  # YAML 1.1 `yes` -> True
        ("no, it is not", "no", True),
        ("**No**", False, True),
        ("Nope!", "no", True),
        ("Yes, there is no damage.", "yes", True),
        ("The answer is no.", "no", True),
        ("No.", "yes", False),
        ("maybe", "yes", False),
        ("I'm not sure", "no", False),
        ("Yes and no.", "yes", False),
        ("Yes. No.", "no", False),
        ("No damage was found.", "no", False),  # no verdict word: refuse to guess
    ],
)
def test_yes_no(text: str, value: object, ok: bool) -> None:
    assert run({"yes_no": value}, text).passed is ok


def test_yes_no_explains() -> None:
    assert run({"yes_no": "yes"}, "maybe").explanation == "expected yes, hedged ('maybe'): 'maybe'"
    assert "says both yes and no" in run({"yes_no": "yes"}, "Yes and no").explanation
    with pytest.raises(ExpectError):
        default_registry().parse({"yes_no": "perhaps"})


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        ({"equals": 1.5}, "expect.equals", "YAML read this as the number 1.5"),
        ({"equals": True}, "expect.equals", "YAML read this as a boolean"),
        ({"contains": ["a", 3]}, "expect.contains", "number 3"),
        ({"one_of": ["cat", 7]}, "expect.one_of", "number 7"),
        ({"label": {"label": "bolt", "synonyms": [True]}}, "expect.label.synonyms", "boolean"),
        ({"ocr": 123}, "expect.ocr", "number 123"),
    ],
)
def test_yaml_scalars_are_not_silently_turned_into_text(
    raw: object, path: str, message: str
) -> None:
    with pytest.raises(ExpectError) as err:
        default_registry().parse(raw)
    assert err.value.path == path
    assert message in err.value.message
