"""The eval case format: pydantic models, loading with file:line errors, JSON Schema export.

An eval file holds file-level defaults and a list of cases::

    category: Object Counting
    task: vqa
    cases:
      - id: bottles-on-shelf
        image: ../../fixtures/images/shelf.png
        prompt: How many bottles are on the shelf?
        expect: {count: 27}

Loading is three-staged: YAML nodes (syntax, duplicate keys, the size limits below) ->
pydantic (shape, types) -> the assertion registry (the ``expect`` blocks). Every error is an
:class:`EvalFileError` naming the file, the line, the case id and the field path, e.g.
``cases[3].expect.boxes[0]``.

Limits, checked on the composed YAML nodes before any Python value is built, so that one
file cannot exhaust the run's time or memory: values nest at most ``MAX_YAML_DEPTH``
levels, no value contains itself through an alias, and aliases repeat at most
``MAX_ALIAS_NODES`` values in all (a few lines of anchors can otherwise stand for billions
of values, the "billion laughs").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from pytest_visionevals.assertions import Assertion, AssertionRegistry, ExpectError
from pytest_visionevals.dataset.spec import DatasetSpec  # noqa: TC001 - pydantic needs it
from pytest_visionevals.params import BoxFormat, GenerationParams, Task
from pytest_visionevals.untrusted import short_repr, shorten
from pytest_visionevals.validation import describe_validation

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_visionevals.images import LazyImage

# safe_load semantics either way; CSafeLoader is libyaml's C implementation.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
SCHEMA_COMMENT = "# yaml-language-server: $schema="
MAX_YAML_DEPTH = 64
MAX_ALIAS_NODES = 200_000
MAX_LABEL_CHARS = 200

# Categories and tags become report headings, table cells and markers: one line of text.
# C0/C1 controls (newline, carriage return, escape, ...) and Unicode line separators.
_CONTROL_CHARS = "\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029"
_CONTROL = re.compile(f"[{_CONTROL_CHARS}]")


def _single_line(value: str) -> str:
    bad = _CONTROL.search(value)
    if bad:
        raise ValueError(
            "must be single-line text without control characters "
            f"(found {bad.group()!r} at character {bad.start() + 1})"
        )
    return value


Label = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_LABEL_CHARS,
        json_schema_extra={"pattern": f"^[^{_CONTROL_CHARS}]*$"},
    ),
    AfterValidator(_single_line),
]


class ReferenceAnswers(BaseModel):
    """Answers the project's own tests run through ``expect`` (never sent to a model)."""

    model_config = ConfigDict(extra="forbid")

    box_format: BoxFormat = "xyxy_px"
    correct: list[str] = Field(default_factory=list)
    wrong: list[str] = Field(default_factory=list)


class _Common(BaseModel):
    """Fields a file sets as defaults and a case may override."""

    model_config = ConfigDict(extra="forbid")

    category: Label | None = None
    task: Task | None = None
    tags: list[Label] = Field(default_factory=list)
    models: list[str] | None = Field(default=None, description="Allow list of catalog names.")
    exclude_models: list[str] = Field(default_factory=list, description="Deny list.")
    params: GenerationParams | None = None
    repeat: int | None = Field(default=None, ge=1, le=100)
    system: str | None = None


class CaseSpec(_Common):
    id: str = Field(pattern=ID_PATTERN, description="Unique within the file.")
    image: str | None = Field(default=None, description="Path relative to the file, or URL.")
    images: list[str] | None = Field(default=None, min_length=1)
    prompt: str = Field(min_length=1)
    expect: Any = Field(description="Assertions: a mapping of assertion types, or a list.")
    reference: ReferenceAnswers | None = None
    json_mode: bool = False
    box_hint: bool = Field(default=True, description="Append the model's box-format hint.")

    @field_validator("images")
    @classmethod
    def _nonempty(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not v.strip() for v in value):
            raise ValueError("image paths must not be empty")
        return value

    def image_refs(self) -> list[str]:
        refs = list(self.images or [])
        if self.image is not None:
            refs.insert(0, self.image)
        return refs


class EvalFileSpec(_Common):
    cases: list[CaseSpec] | None = Field(default=None, min_length=1)
    dataset: DatasetSpec | None = Field(
        default=None, description="Cases from the rows of a data file (docs/datasets.md)."
    )


@dataclass(frozen=True)
class Case:
    """A validated case with file defaults applied."""

    id: str
    file: Path
    line: int
    category: str
    task: str
    tags: tuple[str, ...]
    models: tuple[str, ...] | None
    exclude_models: tuple[str, ...]
    params: GenerationParams
    repeat: int
    prompt: str
    system: str | None
    image_refs: tuple[str, ...]
    expect: Assertion
    expect_raw: Any
    reference: ReferenceAnswers | None
    json_mode: bool
    box_hint: bool
    # A dataset row: its data file (a str for a Hugging Face hub dataset), its row number
    # and its images (checked to exist, not decoded: see images.LazyImage).
    source: Path | str | None = None
    row: int | None = None
    lazy_images: tuple[LazyImage, ...] = ()


@dataclass
class CaseFile:
    """The validated cases of one eval file (the pytest node is collect.EvalFile)."""

    path: Path
    cases: list[Case] = field(default_factory=list)
    # Dataset rows that cannot become cases: each is an error of its own, the others run.
    bad_rows: list[RowError] = field(default_factory=list)


class EvalFileError(Exception):
    """A bad eval file. The message names the file, line, case and field."""

    def __init__(
        self,
        path: Path | str,
        message: str,
        *,
        line: int | None = None,
        case_id: str | None = None,
        field_path: str | None = None,
    ) -> None:
        # Every part may come from the file (a 2 MB key, a huge id): cut each to a readable size.
        case_id = shorten(case_id, 80) if case_id else case_id
        field_path = shorten(field_path, 160) if field_path else field_path
        message = shorten(message, 2000)
        where = f"{path}:{line}" if line else str(path)
        parts = [where]
        if case_id:
            parts.append(f"case {case_id!r}")
        if field_path:
            parts.append(field_path)
        super().__init__(f"{': '.join(parts)}: {message}")
        self.path = str(path)
        self.line = line
        self.case_id = case_id
        self.field_path = field_path
        self.message = message


class RowError(EvalFileError):
    """A dataset row that cannot become a case. The message names the eval file, the data
    file, the row, the column and the field:
    ``evals/receipts.yaml: data/receipts.csv row 57: column 'answer' is empty (expect.ocr.text)``.
    """

    def __init__(self, path: Path | str, source: str, row: int, message: str) -> None:
        Exception.__init__(self, f"{path}: {source} row {row}: {message}")
        self.path = str(path)
        self.line = None
        self.case_id = None
        self.field_path = None
        self.message = message
        self.source = source
        self.row = row


class CaseProblem(Exception):
    """What is wrong with one case; ``loc`` is the field path within the case."""

    def __init__(self, message: str, loc: list[str | int]) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc


# -- locating YAML nodes for line numbers ----------------------------------------------------
def _node_at(node: yaml.Node | None, loc: list[str | int]) -> yaml.Node | None:
    """Walk a composed YAML node along ``loc``; return the deepest node found."""
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            nxt = node.value[part] if 0 <= part < len(node.value) else None
        else:
            nxt = None
        if nxt is None:
            return node
        node = nxt
    return node


def _line(root: yaml.Node | None, loc: list[str | int]) -> int | None:
    node = _node_at(root, loc)
    return node.start_mark.line + 1 if node is not None else None


def _path_str(loc: list[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _split_expect_path(path: str) -> list[str | int]:
    """'expect.boxes[0].box' -> ['expect', 'boxes', 0, 'box'] (for line lookup)."""
    out: list[str | int] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        out.append(int(index) if index else name)
    return out


# -- loading ---------------------------------------------------------------------------------
def parse_yaml(text: str, path: Path) -> tuple[Any, yaml.Node | None]:
    # One pass with libyaml when available: compose (keeping line marks for error messages),
    # check the nodes, then construct from the same nodes. Pure-Python parsing dominated
    # collection time.
    loader = _LOADER(text)
    root: yaml.Node | None = None
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        _NodeCheck(path, root).run()
        return loader.construct_document(root), root
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = f", column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context:  # "while parsing a flow sequence (line 5), expected..."
            start = exc.context_mark
            at = f" (line {start.line + 1})" if start and mark and start.line != mark.line else ""
            problem = f"{exc.context}{at}, {exc.problem}"
        raise EvalFileError(path, f"YAML syntax error{col}: {problem}", line=line) from None
    except yaml.YAMLError as exc:
        raise EvalFileError(path, f"YAML error: {exc}") from None
    except RecursionError:  # the pure-Python composer, which has no depth limit of its own
        raise EvalFileError(path, f"values nested more than {MAX_YAML_DEPTH} levels deep") from None
    except (ValueError, TypeError, OverflowError) as exc:
        # A tagged scalar the constructor cannot convert (``!!int three``): PyYAML raises it
        # bare. The node being constructed is the last one it entered.
        entered = list(getattr(loader, "recursive_objects", {}))
        node = entered[-1] if entered else None
        loc = _find_loc(root, node) if root is not None and node is not None else None
        raise EvalFileError(
            path,
            f"cannot read this YAML value: {exc}",
            line=node.start_mark.line + 1 if node is not None else None,
            case_id=_case_id_at(root, loc or []),
            field_path=_path_str(loc) if loc else None,
        ) from None
    finally:
        loader.dispose()


class _NodeCheck:
    """One walk over the composed nodes: duplicate keys, recursion, depth, alias expansion.

    An alias is a second reference to an already composed node; the walk meets such a node
    again and counts its whole (memoised) size, which is what constructing and validating
    the value would cost. Nodes are identified by ``id()``: the composed graph keeps them
    alive for the duration of the walk. ``loc`` is the field path of the node being visited.
    """

    def __init__(self, path: Path, root: yaml.Node) -> None:
        self.path = path
        self.root = root
        self.sizes: dict[int, tuple[int, int]] = {}  # id -> (expanded size, height)
        self.active: set[int] = set()
        self.repeated = 0
        self.loc: list[str | int] = []

    def run(self) -> None:
        self.visit(self.root, 1, self.root.start_mark.line + 1)

    def error(self, message: str, line: int) -> EvalFileError:
        return EvalFileError(
            self.path,
            message,
            line=line,
            case_id=_case_id_at(self.root, self.loc),
            field_path=_path_str(self.loc) or None,
        )

    def too_deep(self, line: int) -> EvalFileError:
        return self.error(f"values nested more than {MAX_YAML_DEPTH} levels deep", line)

    def visit(self, node: yaml.Node, depth: int, line: int) -> tuple[int, int]:
        if depth > MAX_YAML_DEPTH:
            raise self.too_deep(line)
        if isinstance(node, yaml.ScalarNode):  # an alias to a scalar costs what it says
            return 1, 1
        key = id(node)
        if key in self.active:
            raise self.error(
                "recursive YAML alias: this value contains itself "
                f"(its anchor is at line {node.start_mark.line + 1})",
                line,
            )
        known = self.sizes.get(key)
        if known is not None:  # met again: an alias repeats the whole value
            self.repeated += known[0]
            if self.repeated > MAX_ALIAS_NODES:
                raise self.error(
                    f"aliases repeat more than {MAX_ALIAS_NODES:,} YAML values in this file "
                    "(an alias bomb?); write repeated values out or anchor smaller ones",
                    line,
                )
            if depth + known[1] - 1 > MAX_YAML_DEPTH:
                raise self.too_deep(line)
            return known
        size, height = 1, 1
        self.active.add(key)
        loc = self.loc
        if isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], yaml.Mark] = {}  # (tag, text) of a scalar key -> where
            for k, v in node.value:
                k_line = k.start_mark.line + 1
                name: str = "?"
                if isinstance(k, yaml.ScalarNode):
                    name = k.value
                    first = seen.get((k.tag, name))
                    if first is not None:  # YAML forbids it; PyYAML would keep the last
                        loc.append(name)
                        where = (
                            f"lines {first.line + 1} and {k_line}"
                            if first.line + 1 != k_line
                            else f"line {k_line}, columns {first.column + 1} and "
                            f"{k.start_mark.column + 1}"
                        )
                        raise self.error(f"duplicate key {short_repr(name)} ({where})", k_line)
                    seen[k.tag, name] = k.start_mark
                else:
                    k_size, k_height = self.visit(k, depth + 1, k_line)
                    size += k_size
                    height = max(height, k_height + 1)
                loc.append(name)
                v_size, v_height = self.visit(v, depth + 1, k_line)
                loc.pop()
                size += 1 + v_size
                height = max(height, v_height + 1)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                loc.append(i)
                # An alias's node starts at its anchor: point at the sequence instead.
                item_line = line if id(item) in self.sizes else item.start_mark.line + 1
                i_size, i_height = self.visit(item, depth + 1, item_line)
                loc.pop()
                size += i_size
                height = max(height, i_height + 1)
        self.active.discard(key)
        self.sizes[key] = (size, height)
        return size, height


def _find_loc(root: yaml.Node, target: yaml.Node) -> list[str | int] | None:
    """The field path of ``target`` in the (checked, so finite and shallow) node graph."""
    stack: list[tuple[yaml.Node, list[str | int]]] = [(root, [])]
    seen: set[int] = set()
    while stack:
        node, loc = stack.pop()
        if node is target:
            return loc
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                name = k.value if isinstance(k, yaml.ScalarNode) else "?"
                stack += [(k, loc), (v, [*loc, name])]
        elif isinstance(node, yaml.SequenceNode):
            stack += [(item, [*loc, i]) for i, item in enumerate(node.value)]
    return None


def _case_id_at(root: yaml.Node | None, loc: list[str | int]) -> str | None:
    """The id of the case ``loc`` lies in (``cases[i]...``), if it has a scalar one."""
    if len(loc) < 2 or loc[0] != "cases" or not isinstance(loc[1], int) or root is None:
        return None
    case = _node_at(root, loc[:2])
    if not isinstance(case, yaml.MappingNode) or case is root:
        return None
    ident = next((v for k, v in case.value if getattr(k, "value", None) == "id"), None)
    return ident.value if isinstance(ident, yaml.ScalarNode) else None


def load_eval_file(
    path: Path,
    registry: AssertionRegistry,
    known_models: list[str] | None = None,
    *,
    work_dir: Path | None = None,
) -> CaseFile:
    """Load and validate one eval file, or raise EvalFileError (a file-level problem).

    Dataset rows that cannot become cases are returned in ``CaseFile.bad_rows``.
    ``work_dir`` holds images a dataset gives as bytes (default: a temporary directory).
    """
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        line = exc.object.count(b"\n", 0, exc.start) + 1
        col = exc.start - (exc.object.rfind(b"\n", 0, exc.start) + 1) + 1
        raise EvalFileError(
            path,
            f"not UTF-8 text: byte 0x{exc.object[exc.start]:02x} at column {col} "
            "(save the file as UTF-8)",
            line=line,
        ) from None
    except OSError as exc:
        raise EvalFileError(path, f"cannot read file: {exc}") from None
    return load_eval_text(text, path, registry, known_models, work_dir=work_dir)


def load_eval_text(
    text: str,
    path: Path,
    registry: AssertionRegistry,
    known_models: list[str] | None = None,
    *,
    work_dir: Path | None = None,
) -> CaseFile:
    """Validate the text of an eval file that lives (or will live) at ``path``."""
    data, root = parse_yaml(text, path)
    if not isinstance(data, dict):
        raise EvalFileError(path, "expected a mapping with a 'cases' list at the top level", line=1)
    if "cases" not in data and "dataset" not in data:
        raise EvalFileError(path, "needs a 'cases' list or a 'dataset' block", line=1)
    try:
        spec = EvalFileSpec.model_validate(data)
    except ValidationError as exc:
        loc, msg = describe_validation(exc)
        case_id = None
        if len(loc) >= 2 and loc[0] == "cases" and isinstance(loc[1], int):
            raw_cases = data.get("cases")
            if isinstance(raw_cases, list) and loc[1] < len(raw_cases):
                raw = raw_cases[loc[1]]
                case_id = str(raw.get("id")) if isinstance(raw, dict) and raw.get("id") else None
        raise EvalFileError(
            path, msg, line=_line(root, loc), case_id=case_id, field_path=_path_str(loc)
        ) from None

    known = set(known_models) if known_models is not None else None
    _check_models(path, root, ["models"], spec.models, known)
    _check_models(path, root, ["exclude_models"], spec.exclude_models, known)

    out = CaseFile(path=path)
    seen: dict[str, int] = {}
    for index, cs in enumerate(spec.cases or []):
        base: list[str | int] = ["cases", index]
        line = _line(root, base) or 1
        where = _path_str(base)
        if cs.id in seen:
            raise EvalFileError(
                path,
                f"duplicate case id {cs.id!r} (first defined at line {seen[cs.id]})",
                line=_line(root, [*base, "id"]),
                case_id=cs.id,
                field_path=f"{where}.id",
            )
        seen[cs.id] = line
        try:
            out.cases.append(build_case(path, spec, cs, registry, known, line=line))
        except CaseProblem as exc:
            raise EvalFileError(
                path,
                exc.message,
                line=_line(root, [*base, *exc.loc]),
                case_id=cs.id,
                field_path=f"{where}.{_path_str(exc.loc)}",
            ) from None
    if spec.dataset is not None:
        from pytest_visionevals.dataset.rows import expand_dataset

        expand_dataset(
            out,
            spec,
            registry,
            known,
            seen_ids=seen,
            line=_line(root, ["dataset"]) or 1,
            locate=lambda loc: _line(root, ["dataset", *loc]),
            work_dir=work_dir,
        )
    return out


def build_case(
    path: Path,
    spec: EvalFileSpec,
    cs: CaseSpec,
    registry: AssertionRegistry,
    known: set[str] | None,
    *,
    line: int,
    expect: Assertion | None = None,
    source: Path | str | None = None,
    row: int | None = None,
    lazy_images: tuple[LazyImage, ...] = (),
) -> Case:
    """One validated case with the file's defaults applied (hand-written and dataset rows
    alike). ``expect``: the assertion when already parsed (a dataset's constant expect);
    ``source``, ``row``, ``lazy_images``: a dataset row's. Raises CaseProblem."""
    refs = cs.image_refs()
    if not refs:
        raise CaseProblem("a case needs 'image' or 'images'", ["image"])
    category = cs.category or spec.category
    if not category:
        raise CaseProblem("no category (set it on the file or the case)", ["category"])
    task = cs.task or spec.task
    if not task:
        raise CaseProblem("no task (set it on the file or the case)", ["task"])
    for key in ("models", "exclude_models"):
        names: list[str] | None = getattr(cs, key)
        bad = _unknown_model(names, known)
        if bad is not None:
            raise CaseProblem(bad[1], [key, bad[0]])
    if expect is None:
        try:
            expect = registry.parse(cs.expect, "expect")
        except ExpectError as exc:
            raise CaseProblem(exc.message, _split_expect_path(exc.path)) from None
    params = (spec.params or GenerationParams()).merged(cs.params)
    models = cs.models if cs.models is not None else spec.models
    return Case(
        id=cs.id,
        file=path,
        line=line,
        category=category,
        task=task,
        tags=tuple(dict.fromkeys([*spec.tags, *cs.tags])),
        models=tuple(models) if models is not None else None,
        exclude_models=tuple({*spec.exclude_models, *cs.exclude_models}),
        params=params,
        repeat=cs.repeat or spec.repeat or 1,
        prompt=cs.prompt,
        system=cs.system if cs.system is not None else spec.system,
        image_refs=tuple(refs),
        expect=expect,
        expect_raw=cs.expect,
        reference=cs.reference,
        json_mode=cs.json_mode,
        box_hint=cs.box_hint,
        source=source,
        row=row,
        lazy_images=lazy_images,
    )


def _unknown_model(names: list[str] | None, known: set[str] | None) -> tuple[int, str] | None:
    if not names or known is None:
        return None
    for i, name in enumerate(names):
        if name not in known:
            return i, f"unknown model {name!r}; known models: {', '.join(sorted(known))}"
    return None


def _check_models(
    path: Path,
    root: yaml.Node | None,
    loc: list[str | int],
    names: list[str] | None,
    known: set[str] | None,
) -> None:
    bad = _unknown_model(names, known)
    if bad is not None:
        at = [*loc, bad[0]]
        raise EvalFileError(path, bad[1], line=_line(root, at), field_path=_path_str(at))


# -- JSON Schema -----------------------------------------------------------------------------
def json_schema(registry: AssertionRegistry) -> dict[str, Any]:
    """The eval-file JSON Schema, with ``expect`` described by every registered type."""
    schema = EvalFileSpec.model_json_schema()
    defs = schema.setdefault("$defs", {})
    props: dict[str, Any] = {}
    for name, cls in sorted(registry.types().items()):
        if name in ("all", "any"):
            props[name] = {
                "type": "array",
                "items": {"$ref": "#/$defs/Expect"},
                "description": cls.description,
            }
            continue
        if name == "not":
            props[name] = {"$ref": "#/$defs/Expect", "description": cls.description}
            continue
        sub = cls.model_json_schema(ref_template="#/$defs/{model}")
        for key, value in sub.pop("$defs", {}).items():
            defs.setdefault(key, value)
        options: list[dict[str, Any]] = [sub]
        if cls.shorthand and cls.shorthand in sub.get("properties", {}):
            options.append(sub["properties"][cls.shorthand])
        props[name] = {"anyOf": options, "description": cls.description or cls.__doc__ or ""}
    defs["Expect"] = {
        "anyOf": [
            {
                "type": "object",
                "properties": props,
                "additionalProperties": False,
                "minProperties": 1,
            },
            {"type": "array", "items": {"$ref": "#/$defs/Expect"}},
        ]
    }
    case_def = defs["CaseSpec"]
    case_def["properties"]["expect"] = {
        "$ref": "#/$defs/Expect",
        "description": "Assertions (see README).",
    }
    schema["anyOf"] = [{"required": ["cases"]}, {"required": ["dataset"]}]
    schema["title"] = "pytest-visionevals eval file"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
