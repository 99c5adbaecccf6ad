"""Assertion registry and the parser of ``expect:`` blocks.

``expect`` is a mapping whose keys are assertion types (several keys = all must pass),
or a list of such mappings. Each value is either the assertion's parameter mapping or a
shorthand scalar/list for its main field. ``all`` / ``any`` take a list of expect
mappings, ``not`` takes one.

Users register their own types with the ``pytest_visionevals_register_assertions`` hook
or the ``pytest_visionevals.assertions`` entry-point group (see docs/assertions.md, which
has a complete example class).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError

from pytest_visionevals.assertions.base import Assertion
from pytest_visionevals.untrusted import short_repr
from pytest_visionevals.validation import describe_validation

ENTRY_POINT_GROUP = "pytest_visionevals.assertions"
MAX_EXPECT_DEPTH = 32  # nested expect values (all / any / not / json fields) per case

_depth: ContextVar[int] = ContextVar("expect_depth", default=0)


class ExpectError(Exception):
    """A bad ``expect`` entry. ``path`` is relative to the case, e.g. ``expect.boxes[0]``."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def _join(path: str, loc: Iterable[Any]) -> str:
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


class AssertionRegistry:
    def __init__(self) -> None:
        self._types: dict[str, type[Assertion]] = {}
        # Built-in names whose family module is not imported yet: name -> family.
        self._lazy: dict[str, str] = {}

    def register(self, cls: type[Assertion], *, replace: bool = False) -> type[Assertion]:
        name = cls.type_name
        if not name:
            raise ValueError(f"{cls.__name__} has no type_name")
        if name in self._lazy:
            if replace:
                del self._lazy[name]
            else:
                self._load(name)  # the built-in it would clash with (or be)
        if name in self._types and self._types[name] is not cls and not replace:
            raise ValueError(f"assertion type {name!r} is already registered")
        self._types[name] = cls
        return cls

    def register_builtins(self) -> None:
        """Every built-in type, each family imported when one of its names is first used."""
        from pytest_visionevals.assertions import BUILTIN_FAMILIES

        for family, names in BUILTIN_FAMILIES.items():
            for name in names:
                if name not in self._types:
                    self._lazy[name] = family

    def _load(self, name: str) -> None:
        from pytest_visionevals.assertions import family_types

        family = self._lazy[name]
        for cls in family_types(family):
            if self._lazy.get(cls.type_name) == family:
                del self._lazy[cls.type_name]
                self._types[cls.type_name] = cls
        if name in self._lazy:
            raise RuntimeError(f"assertion family {family!r} defines no type {name!r}")

    def copy(self) -> AssertionRegistry:
        new = AssertionRegistry()
        new._types = dict(self._types)
        new._lazy = dict(self._lazy)
        return new

    def names(self) -> list[str]:
        return sorted({*self._types, *self._lazy})

    def get(self, name: str) -> type[Assertion]:
        if name in self._lazy:
            self._load(name)
        return self._types[name]

    def types(self) -> dict[str, type[Assertion]]:
        for name in list(self._lazy):
            if name in self._lazy:
                self._load(name)
        return dict(self._types)

    def load_entry_points(self) -> None:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            obj = ep.load()
            classes = obj if isinstance(obj, (list, tuple)) else [obj]
            for cls in classes:
                if not (isinstance(cls, type) and issubclass(cls, Assertion)):
                    raise TypeError(
                        f"entry point {ep.name!r} ({ep.value}) in group "
                        f"{ENTRY_POINT_GROUP!r} must be an Assertion subclass "
                        f"or a list of them, got {cls!r}"
                    )
                self.register(cls, replace=True)

    # -- parsing ---------------------------------------------------------------------
    def parse(self, raw: Any, path: str = "expect") -> Assertion:
        """Turn an ``expect`` value into one Assertion (an ``all`` when several)."""
        depth = _depth.get()
        if depth >= MAX_EXPECT_DEPTH:  # a deep or self-containing value, not a real case
            raise ExpectError(path, f"assertions nested more than {MAX_EXPECT_DEPTH} levels deep")
        token = _depth.set(depth + 1)
        try:
            return self._parse(raw, path)
        finally:
            _depth.reset(token)

    def _parse(self, raw: Any, path: str) -> Assertion:
        if isinstance(raw, list):
            if not raw:
                raise ExpectError(path, "expected at least one assertion")
            parts = [self.parse(item, f"{path}[{i}]") for i, item in enumerate(raw)]
            return _all_of(parts)
        if not isinstance(raw, Mapping) or not raw:
            raise ExpectError(
                path,
                "expected a mapping of assertion types, e.g. {count: 3}; "
                f"valid types: {', '.join(self.names())}",
            )
        parts = [self.parse_one(str(key), value, f"{path}.{key}") for key, value in raw.items()]
        return _all_of(parts)

    def parse_one(self, type_name: str, value: Any, path: str) -> Assertion:
        if type_name not in self._types and type_name not in self._lazy:
            raise ExpectError(
                path,
                f"unknown assertion type {short_repr(type_name)}; "
                f"valid types: {', '.join(self.names())}",
            )
        cls = self.get(type_name)
        custom = getattr(cls, "parse_value", None)
        if custom is not None:  # combinators parse their children through the registry
            result: Assertion = custom(value, path, self)
            return result
        if isinstance(value, Mapping) and (
            cls.shorthand is None or cls.shorthand in value or not _is_shorthand_value(cls, value)
        ):
            data = dict(value)
            base = path
        elif cls.shorthand is not None:
            data = {cls.shorthand: value}
            base = path  # errors inside the shorthand value point at the value itself
        else:
            raise ExpectError(path, f"expected a mapping of {type_name} parameters")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            allowed = ", ".join(sorted(f for f in cls.model_fields if f != "weight"))
            loc, msg = describe_validation(
                exc, f"unknown field; {type_name} accepts: {allowed}, weight"
            )
            if (
                base is path
                and cls.shorthand is not None
                and data.keys() == {cls.shorthand}
                and not isinstance(value, Mapping)
                and loc
                and loc[0] == cls.shorthand
            ):
                loc = loc[1:]
            raise ExpectError(_join(path, loc), msg) from None


def _all_of(parts: list[Assertion]) -> Assertion:
    if len(parts) == 1:
        return parts[0]
    from pytest_visionevals.assertions.combinators import AllOf

    return AllOf(items=parts)


def _is_shorthand_value(cls: type[Assertion], value: Mapping[str, Any]) -> bool:
    """A mapping is a shorthand value only if none of its keys are the type's fields."""
    return not any(k in cls.model_fields for k in value)


_DEFAULT: AssertionRegistry | None = None


def default_registry() -> AssertionRegistry:
    """The registry of every built-in assertion type (families imported on first use)."""
    global _DEFAULT
    if _DEFAULT is None:
        reg = AssertionRegistry()
        reg.register_builtins()
        _DEFAULT = reg
    return _DEFAULT


def load_registry() -> AssertionRegistry:
    """A fresh registry: the built-in types plus those of installed entry points."""
    registry = default_registry().copy()
    registry.load_entry_points()
    return registry
