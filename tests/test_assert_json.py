"""json: extraction from messy answers, fields through the registry, JSON Schema."""

from __future__ import annotations

import pytest

from pytest_visionevals.assertions import default_registry
from pytest_visionevals.assertions.base import AnswerContext, Verdict
from pytest_visionevals.assertions.jsonextract import extract_json
from pytest_visionevals.assertions.jsonfields import _MISSING, lookup, render
from pytest_visionevals.assertions.registry import ExpectError


def run(raw: object, text: str) -> Verdict:
    return default_registry().parse(raw).evaluate(AnswerContext(text=text))


@pytest.mark.parametrize(
    ("text", "how"),
    [
        ('{"a": 1}', "json"),
        ('```json\n{"a": 1}\n```', "fenced"),
        ('```\n{"a": 1}', "fenced"),  # unterminated fence
        ('Sure! Here it is: {"a": 1}. Anything else?', "embedded"),
        ('{"a": 1, "b": [1, 2', "repaired"),
        ("{'a': 1,}", "repaired"),
    ],
)
def test_extract(text: str, how: str) -> None:
    found = extract_json(text)
    assert found is not None
    assert found.how == how
    assert found.value["a"] == 1


def test_extract_none() -> None:
    assert extract_json("There are 27 bottles.") is None


def test_lookup_and_render() -> None:
    data = {"a": {"b": [{"c": 5}]}, "x.y": 1, "Name": "bolt"}
    assert lookup(data, "a.b[0].c") == 5
    assert lookup(data, "x.y") == 1
    assert lookup(data, "name") == "bolt"
    assert lookup(data, "a.b[3]") is _MISSING  # a sentinel, not an exception
    assert lookup(data, "a.c") is _MISSING
    assert render(True) == "yes"
    assert render(27.0) == "27"
    assert render(None) == "null"
    assert render([1, 2]) == "[1, 2]"


RAW = {
    "json": {
        "fields": {
            "count": {"count": 27},
            "label": {"label": "bolt"},
            "damaged": {"yes_no": False},
        },
        "schema": {"type": "object", "required": ["count", "label"]},
    }
}


def test_fields_and_schema_pass() -> None:
    v = run(
        RAW,
        '```json\n{"count": 27, "label": "hex bolt", "damaged": false, "extra": "ignored"}\n```',
    )
    assert v.passed, v.explanation
    assert v.score == 1.0
    assert [c.assertion for c in v.children] == [
        "json.schema",
        "json.fields.count.count",
        "json.fields.label.label",
        "json.fields.damaged.yes_no",
    ]


def test_field_failure_names_field() -> None:
    v = run(RAW, '{"count": 26, "label": "bolt", "damaged": false}')
    assert not v.passed
    assert v.explanation == "field 'count': expected 27, parsed 26 from answer '26'"
    assert v.score == pytest.approx(3 / 4)


def test_missing_field() -> None:
    v = run(RAW, '{"count": 27, "damaged": false}')
    assert not v.passed
    assert "missing field 'label'" in v.explanation
    assert "'label' is a required property" in v.explanation
    raw = {"json": {"fields": {"label": {"label": "bolt"}}, "require_all": False}}
    assert run(raw, '{"count": 27}').passed


def test_truncated_json_is_repaired() -> None:
    v = run({"json": {"fields": {"count": {"count": 27}}}}, '{"count": 27, "items": ["a", "b')
    assert v.passed
    assert "(JSON repaired)" in v.explanation


def test_no_json() -> None:
    v = run({"json": {"fields": {"count": {"count": 27}}}}, "27")
    assert not v.passed
    assert v.explanation == "no JSON found in answer '27'"


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"json": {"fields": {"count": {"cnt": 3}}}}, "expect.json.fields.count.cnt"),
        ({"json": {"schema": {"type": "nonsense"}}}, "expect.json.schema"),
        ({"json": {"schem": {}}}, "expect.json.schem"),
        ({"json": {"require_all": "yes"}}, "expect.json.require_all"),
        ({"json": [1]}, "expect.json"),
    ],
)
def test_bad_expectations(raw: object, path: str) -> None:
    with pytest.raises(ExpectError) as err:
        default_registry().parse(raw)
    assert err.value.path == path
