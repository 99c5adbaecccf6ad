"""pydantic's validation errors as one message with its location, for every file format we
read (eval files, assertion parameters, the model catalog)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_visionevals.untrusted import short_repr

if TYPE_CHECKING:
    from pydantic import ValidationError


def describe_validation(
    exc: ValidationError, unknown_field: str = "unknown field"
) -> tuple[list[str | int], str]:
    """(location, message) of the first error: ``unknown_field`` for an extra key, else
    pydantic's message with the offending value (shortened before it is turned into text:
    it may be a huge value from an alias)."""
    err = exc.errors()[0]
    loc = [p for p in err["loc"] if isinstance(p, (str, int))]
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = unknown_field
    elif err["type"] != "missing" and "input" in err:
        msg = f"{msg} (got {short_repr(err['input'])})"
    return loc, msg
