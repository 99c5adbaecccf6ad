"""``json``: the answer holds JSON (fenced, prose-wrapped or truncated is fine), optionally
valid against a JSON Schema, with fields checked by nested assertions.

```yaml
expect:
  json:
    fields:
      count: {count: 27}            # any expect mapping; parsed at expect.json.fields.count
      label: {label: bolt}
      items[0].color: {equals: red}  # dotted / indexed paths reach nested values
    schema: {type: object, required: [count]}
    require_all: true               # false: a missing field is skipped, not a failure
```
A field's value is rendered as text for its assertion: strings as they are, numbers in
plain notation, booleans as ``yes`` / ``no``, null as ``null``, lists / objects as JSON.
Score = weighted mean over the schema check (weight 1) and the fields.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ConfigDict, Field

from pytest_visionevals.assertions.base import AnswerContext, Assertion, Verdict
from pytest_visionevals.assertions.jsonextract import extract_json
from pytest_visionevals.assertions.numparse import format_number
from pytest_visionevals.assertions.registry import ExpectError
from pytest_visionevals.untrusted import shorten

if TYPE_CHECKING:
    from pytest_visionevals.assertions.registry import AssertionRegistry

_MISSING = object()
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def lookup(value: Any, name: str) -> Any:
    """``value[name]``, or follow a dotted / indexed path (``a.b[0].c``); _MISSING if absent."""
    if isinstance(value, Mapping) and name in value:
        return value[name]
    cur = value
    for key, index in _PATH_PART.findall(name):
        if index:
            if not isinstance(cur, list) or int(index) >= len(cur):
                return _MISSING
            cur = cur[int(index)]
        else:
            if not isinstance(cur, Mapping):
                return _MISSING
            match = cur.get(key, _MISSING)
            if match is _MISSING:  # keys are matched exactly, then case-insensitively
                match = next((v for k, v in cur.items() if str(k).lower() == key.lower()), _MISSING)
            cur = match
        if cur is _MISSING:
            return _MISSING
    return cur


def render(value: Any) -> str:
    """A JSON value as the text a nested assertion reads."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return format_number(value)
    if value is None:
        return "null"
    return json.dumps(value, ensure_ascii=False)


class Json(Assertion):
    """The answer contains JSON that satisfies ``schema`` and whose ``fields`` pass."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type_name: ClassVar[str] = "json"
    description: ClassVar[str] = "Answer holds JSON; fields checked, optional JSON Schema."
    fields: dict[str, Assertion] = Field(default_factory=dict)  # parsed by parse_value
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    require_all: bool = True

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Field values are expect mappings: point at the case format's ``Expect``
        definition (``cases.json_schema`` defines it) instead of the bare base class."""
        schema = super().model_json_schema(*args, **kwargs)
        schema["properties"]["fields"] = {
            "type": "object",
            "additionalProperties": {"$ref": "#/$defs/Expect"},
            "description": "Field name or path (a.b[0].c) -> expect mapping for its value.",
        }
        schema.get("$defs", {}).pop("Assertion", None)
        return schema

    @classmethod
    def parse_value(cls, value: Any, path: str, reg: AssertionRegistry) -> Assertion:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise ExpectError(path, "expected a mapping with fields / schema / require_all")
        allowed = {"fields", "schema", "require_all", "weight"}
        for key in value:
            if key not in allowed:
                raise ExpectError(
                    f"{path}.{key}",
                    "unknown field; json accepts: fields, schema, require_all, weight",
                )
        raw_fields = value.get("fields") or {}
        if not isinstance(raw_fields, Mapping):
            raise ExpectError(f"{path}.fields", "expected a mapping of field name -> expect")
        fields = {
            str(name): reg.parse(sub, f"{path}.fields.{name}") for name, sub in raw_fields.items()
        }
        schema = value.get("schema")
        if schema is not None:
            if not isinstance(schema, Mapping):
                raise ExpectError(f"{path}.schema", "expected a JSON Schema mapping")
            # Imported on use (~70 ms): most suites never declare a schema.
            import jsonschema

            try:
                jsonschema.validators.validator_for(schema).check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise ExpectError(f"{path}.schema", f"invalid JSON Schema: {exc.message}") from None
        require_all = value.get("require_all", True)
        if not isinstance(require_all, bool):
            raise ExpectError(f"{path}.require_all", "expected true or false")
        weight = value.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise ExpectError(f"{path}.weight", "expected a number >= 0")
        return cls(
            fields=fields,
            json_schema=dict(schema) if schema is not None else None,
            require_all=require_all,
            weight=float(weight),
        )

    def children(self) -> list[Assertion]:
        return list(self.fields.values())

    def check(self, ctx: AnswerContext) -> Verdict:
        found = extract_json(ctx.text)
        if found is None:
            return Verdict(False, 0.0, f"no JSON found in answer {shorten(ctx.text)!r}")
        data = found.value
        parts: list[tuple[Verdict, float]] = []
        problems: list[str] = []
        details: dict[str, Any] = {"json": data, "extracted_from": found.how}
        if self.json_schema is not None:
            import jsonschema

            validator = jsonschema.validators.validator_for(self.json_schema)(self.json_schema)
            errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
            msgs = [f"at {e.json_path}: {e.message}" for e in errors]
            details["schema_errors"] = msgs
            sv = Verdict(
                not msgs,
                float(not msgs),
                "valid against schema"
                if not msgs
                else f"schema: {'; '.join(msgs[:3])}"
                + (f" (+{len(msgs) - 3} more)" if len(msgs) > 3 else ""),
                assertion="json.schema",
            )
            parts.append((sv, 1.0))
            if msgs:
                problems.append(sv.explanation)
        for name, assertion in self.fields.items():
            value = lookup(data, name)
            if value is _MISSING:
                if self.require_all:
                    v = Verdict(
                        False, 0.0, f"missing field {name!r}", assertion=f"json.fields.{name}"
                    )
                    parts.append((v, assertion.weight))
                    problems.append(v.explanation)
                continue
            child = assertion.evaluate(dataclasses.replace(ctx, text=render(value)))
            child.assertion = f"json.fields.{name}.{child.assertion}"
            parts.append((child, assertion.weight))
            if not child.passed:
                problems.append(f"field {name!r}: {child.explanation}")
        total = sum(w for _, w in parts)
        score = sum(v.score * w for v, w in parts) / total if total > 0 else 1.0
        passed = all(v.passed for v, _ in parts)
        how = "" if found.how in ("json", "fenced") else f" (JSON {found.how})"
        expl = (
            f"JSON ok{how}: {len(self.fields)} field(s) checked"
            if passed
            else "; ".join(problems) + how
        )
        return Verdict(
            passed,
            score if parts else 1.0,
            expl,
            parsed=data,
            details=details,
            children=[v for v, _ in parts],
        )


TYPES: list[type[Assertion]] = [Json]
