"""From the rows of a ``dataset:`` block to ordinary cases. pytest-free.

Each row fills the block's templates, then goes through the same validation as a
hand-written case (``CaseSpec``, then ``cases.build_case`` with the assertion registry), so
ids, assertions, markers and cache keys are the same. A row that cannot become a case is a
``RowError`` of its own (the other rows run); a block that cannot be read at all (no data
file, an unknown column, a broken template) is an ``EvalFileError`` of the whole file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from pytest_visionevals.cases import (
    CaseProblem,
    CaseSpec,
    EvalFileError,
    RowError,
    _path_str,
    _split_expect_path,
    build_case,
    parse_yaml,
)
from pytest_visionevals.dataset.sources import BlobCell, SourceError, read_table
from pytest_visionevals.dataset.templates import (
    ROW_COLUMN,
    CellError,
    Template,
    TemplateError,
    compile_template,
    is_empty,
    origin_of,
)
from pytest_visionevals.images import LazyImage, is_url
from pytest_visionevals.validation import describe_validation

if TYPE_CHECKING:
    from collections.abc import Callable

    from pytest_visionevals.assertions import Assertion, AssertionRegistry
    from pytest_visionevals.cases import Case, CaseFile, EvalFileSpec
    from pytest_visionevals.dataset.sources import Row, Table
    from pytest_visionevals.dataset.spec import DatasetSpec

IMAGE_FIELDS = ("image", "images")


class _BadRow(Exception):
    """A row problem, already worded (column and field included)."""


@dataclasses.dataclass
class _Expander:
    """Everything compiled once per eval file; ``case`` turns one row into a Case."""

    path: Path
    spec: EvalFileSpec
    ds: DatasetSpec
    table: Table
    registry: AssertionRegistry
    known: set[str] | None
    line: int
    work_dir: Path
    templates: dict[str, Template]
    origins: dict[str, str]
    expect: Assertion | None  # parsed once when the expect template names no column
    _files: dict[str, Path | None] = dataclasses.field(default_factory=dict)

    def case(self, row: Row) -> Case:
        if row.problem:
            raise _BadRow(row.problem)
        n = row.number
        data: dict[str, Any] = {}
        alternatives: dict[str, str] = {}
        try:
            for name, template in self.templates.items():
                data[name] = template.render(row.cells, n, alternatives)
        except CellError as exc:
            raise _BadRow(str(exc)) from None
        if self.ds.expect_column is not None:
            data["expect"] = self._expect_from_column(row)
        lazy = tuple(self._images(data, alternatives))
        source = self.table.file if self.table.file is not None else self.table.label
        # A number (or a CSV cell read as JSON) where the field needs text is retried as
        # the text written (templates.py); rows that validate first time never loop.
        case: Case
        while True:
            try:
                cs = CaseSpec.model_validate(data)
                case = build_case(
                    self.path,
                    self.spec,
                    cs,
                    self.registry,
                    self.known,
                    line=self.line,
                    expect=self.expect,
                    source=source,
                    row=n,
                    lazy_images=lazy,
                )
                return case
            except ValidationError as exc:
                loc, msg = describe_validation(exc)
                field = _path_str(loc)
            except CaseProblem as exc:
                msg, field = exc.message, _path_str(exc.loc)
            retry = _nearest(alternatives, field)
            if retry is None:
                raise _BadRow(self._worded(msg, field))
            _set_at(data, retry, alternatives.pop(retry))

    def _worded(self, message: str, field: str) -> str:
        column = origin_of(self.origins, field)
        return f"column {column!r}: {message} ({field})" if column else f"{message} ({field})"

    def _expect_from_column(self, row: Row) -> Any:
        column = self.ds.expect_column
        assert column is not None
        if column not in row.cells:
            raise _BadRow(f"column {column!r} is missing (expect)")
        raw = row.cells[column]
        if is_empty(raw):
            raise _BadRow(f"column {column!r} is empty (expect)")
        if isinstance(raw, (dict, list)):
            return raw
        if not isinstance(raw, str):
            raise _BadRow(f"column {column!r} holds {raw!r}, not an expect mapping (expect)")
        try:
            return json.loads(raw)
        except ValueError as json_error:
            # Hand-edited cells are often YAML flow style: {count: 3}.
            try:
                value, _ = parse_yaml(raw, self.path)
            except EvalFileError:
                value = None
            if isinstance(value, (dict, list)):
                return value
            raise _BadRow(
                f"column {column!r} is not valid JSON (nor a YAML mapping): {json_error} (expect)"
            ) from None

    def _images(self, data: dict[str, Any], alternatives: dict[str, str]) -> list[LazyImage]:
        """Check each image exists (never decode it) and give CaseSpec text references."""
        lazy: list[LazyImage] = []
        for name in IMAGE_FIELDS:
            if name not in data:
                continue
            value = data[name]
            many = name == "images"
            values = value if many and isinstance(value, list) else [value]
            refs = []
            for j, v in enumerate(values):
                field = f"{name}[{j}]" if many and isinstance(value, list) else name
                if field in alternatives:  # a CSV cell read as a number: a file named "1"
                    v = alternatives.pop(field)
                image = self._image(v, field)
                lazy.append(image)
                refs.append(image.source)
            data[name] = refs if many else refs[0]
        return lazy

    def _image(self, value: Any, field: str) -> LazyImage:
        column = origin_of(self.origins, field)
        where = f"column {column!r}: " if column else ""
        if isinstance(value, BlobCell):
            return LazyImage(value.label, self.work_dir, blob=value.read)
        if not isinstance(value, str):
            raise _BadRow(
                f"{where}holds {type(value).__name__} {str(value)[:60]!r}, "
                f"not an image path, URL or image bytes ({field})"
            )
        if is_url(value):
            return LazyImage(value, self.work_dir, url=value)
        if value not in self._files:
            # abspath, not resolve(): a stat per image, not a walk of every symlink.
            full = os.path.abspath(os.path.join(self.table.base_dir, value))
            self._files[value] = Path(full) if os.path.isfile(full) else None
        found = self._files[value]
        if found is None:
            full = os.path.abspath(os.path.join(self.table.base_dir, value))
            why = "is a directory" if os.path.isdir(full) else "does not exist"
            raise _BadRow(f"{where}image {value!r} (resolved to {full}) {why} ({field})")
        return LazyImage(value, self.work_dir, file=found)


def _nearest(alternatives: dict[str, str], field: str) -> str | None:
    """The field (or the nearest enclosing one) that has a text alternative."""
    while field:
        if field in alternatives:
            return field
        cut = max(field.rfind("."), field.rfind("["))
        if cut <= 0:
            return None
        field = field[:cut]
    return None


def _set_at(data: dict[str, Any], field: str, value: Any) -> None:
    keys = _split_expect_path(field)
    node: Any = data
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value


def expand_dataset(
    out: CaseFile,
    spec: EvalFileSpec,
    registry: AssertionRegistry,
    known: set[str] | None,
    *,
    seen_ids: dict[str, int],
    line: int,
    locate: Callable[[list[str | int]], int | None],
    work_dir: Path | None,
) -> None:
    """Append the dataset's cases to ``out.cases`` and its bad rows to ``out.bad_rows``.

    Raises EvalFileError when the block itself is wrong. ``seen_ids``: hand-written case
    ids and their lines (a row may not reuse one).
    """
    ds = spec.dataset
    assert ds is not None
    path = out.path

    def file_error(message: str, field: str) -> EvalFileError:
        key = field.split(".")[1].split("[")[0]
        return EvalFileError(path, message, line=locate([key]) or line, field_path=field)

    try:
        table = read_table(ds, path.parent)
    except SourceError as exc:
        if ds.hf is not None:
            raise file_error(str(exc), "dataset.hf") from None
        raise file_error(f"data file {ds.path!r} {exc}", "dataset.path") from None
    if not table.rows:
        raise file_error(f"{table.label} has no rows", "dataset.hf" if ds.hf else "dataset.path")

    templates: dict[str, Template] = {}
    origins: dict[str, str] = {}
    available = {*table.columns, ROW_COLUMN}
    shown = ", ".join(table.columns) or "(none)"
    for name, value in ds.template_fields().items():
        try:
            template = compile_template(value, name, text_cells=table.text_cells)
        except TemplateError as exc:
            raise file_error(exc.message, f"dataset.{exc.field}") from None
        unknown = sorted(template.columns - available)
        if unknown:
            raise file_error(
                f"unknown column {unknown[0]!r} in {table.label}; its columns: {shown}",
                f"dataset.{name}",
            )
        templates[name] = template
        origins.update(template.origins)
    if ds.expect_column is not None:
        if ds.expect_column not in table.columns:
            raise file_error(
                f"unknown column {ds.expect_column!r} in {table.label}; its columns: {shown}",
                "dataset.expect_column",
            )
        origins["expect"] = ds.expect_column

    expect: Assertion | None = None
    if "expect" in templates and templates["expect"].constant:
        # The same expectation for every row: parsed once, not 10,000 times.
        try:
            expect = registry.parse(templates["expect"].render({}, 0, {}), "expect")
        except Exception as exc:
            message = getattr(exc, "message", str(exc))
            at = getattr(exc, "path", "expect")
            raise file_error(message, f"dataset.{at}") from None

    expander = _Expander(
        path=path,
        spec=spec,
        ds=ds,
        table=table,
        registry=registry,
        known=known,
        line=line,
        work_dir=work_dir or Path(tempfile.gettempdir()) / "visionevals",
        templates=templates,
        origins=origins,
        expect=expect,
    )
    first_row: dict[str, int] = {}
    for row in table.rows:
        try:
            case = expander.case(row)
            if case.id in seen_ids:
                raise _BadRow(
                    f"duplicate case id {case.id!r} (first defined at line {seen_ids[case.id]}) "
                    "(id)"
                )
            if case.id in first_row:
                raise _BadRow(
                    f"duplicate case id {case.id!r} (first used by row {first_row[case.id]}) (id)"
                )
        except _BadRow as exc:
            out.bad_rows.append(RowError(path, table.label, row.number, str(exc)))
            continue
        first_row[case.id] = row.number
        out.cases.append(case)
