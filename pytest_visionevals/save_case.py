"""Append explored questions to an eval file as cases (``visionevals compare --save``).

The file is edited as text, never round-tripped through a YAML dumper, so its comments
and formatting stay as they are: a new file gets the schema header, ``category`` and
``task``; an existing one gets each case inserted after the last item of its ``cases:``
list, at that list's indentation. The new text is validated exactly as a pytest run loads
it (``cases.load_eval_text``, images resolved from the file's directory) before anything
is written, and it is written with an atomic replace: a bad case leaves the file untouched.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from pytest_visionevals.cases import (
    SCHEMA_COMMENT,
    EvalFileError,
    EvalFileSpec,
    load_eval_file,
    load_eval_text,
    parse_yaml,
)
from pytest_visionevals.imageprep import ImageError
from pytest_visionevals.images import is_url, resolve_image

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from pytest_visionevals.assertions.registry import AssertionRegistry
    from pytest_visionevals.params import GenerationParams

# Where this project (and `visionevals schema -o ...`) keeps the eval-file JSON Schema.
SCHEMA_PATH = Path("schema") / "visionevals.schema.json"
DEFAULT_EVAL_DIRS = ("evals",)


class SaveError(Exception):
    """The eval file cannot take the case; nothing was written."""


@dataclass(frozen=True)
class SaveTarget:
    """The eval file cases are appended to, read and checked before any model is called."""

    path: Path
    text: str | None  # None: the file does not exist yet
    ids: frozenset[str]
    # File-level defaults a new case inherits (the compare run sends what the case will).
    category: str | None = None
    task: str | None = None
    params: GenerationParams | None = None
    system: str | None = None

    @property
    def exists(self) -> bool:
        return self.text is not None

    def notes(self, eval_dirs: Sequence[str] = DEFAULT_EVAL_DIRS) -> list[str]:
        """Why pytest would not collect this file, if it would not."""
        out = []
        if self.path.name.startswith(("_", ".")):
            out.append(f"{self.path}: pytest ignores eval files whose name starts with _ or .")
        parts = self.path.resolve().parent.parts
        if not any(p in eval_dirs for p in parts):
            out.append(
                f"{self.path}: pytest collects eval files only under a directory named "
                f"{' or '.join(eval_dirs)} (ini option vision_eval_dirs)"
            )
        return out


@dataclass(frozen=True)
class NewCase:
    image: str  # as given on the command line: a path relative to the working directory, or a URL
    prompt: str
    task: str  # an eval-file task
    expect: Any  # the parsed --expect value, already validated by the assertion registry


def open_target(
    path: Path, registry: AssertionRegistry, known_models: list[str] | None = None
) -> SaveTarget:
    """Read and validate the eval file (when it exists); SaveError when it cannot take cases."""
    if path.suffix not in (".yaml", ".yml"):
        raise SaveError(f"{path}: an eval file name ends in .yaml or .yml")
    if not path.exists():
        return SaveTarget(path=path, text=None, ids=frozenset())
    if not path.is_file():
        raise SaveError(f"{path}: not a file")
    try:
        loaded = load_eval_file(path, registry, known_models)
    except EvalFileError as exc:
        raise SaveError(f"cannot append to an invalid eval file: {exc}") from None
    text = path.read_text("utf-8")
    data, _root = parse_yaml(text, path)
    spec = EvalFileSpec.model_validate(data)  # cannot fail: load_eval_file accepted it
    return SaveTarget(
        path=path,
        text=text,
        ids=frozenset(c.id for c in loaded.cases),
        category=spec.category,
        task=spec.task,
        params=spec.params,
        system=spec.system,
    )


def case_id_for(image: str, taken: set[str] | frozenset[str]) -> str:
    """A case id from the image's file name (``shelf.png`` -> ``shelf``), unique in ``taken``."""
    name = image.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    base = re.sub(r"[^a-z0-9_.\-]+", "-", Path(name).stem.lower()).strip("-_.") or "case"
    if not base[0].isalnum():
        base = f"case-{base}"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def image_ref(image: str, eval_file: Path) -> str:
    """The image as the eval file names it: relative to the file's directory (URLs as is)."""
    if is_url(image):
        return image
    return Path(os.path.relpath(Path(image).resolve(), eval_file.resolve().parent)).as_posix()


def default_category(path: Path, eval_dirs: Sequence[str] = DEFAULT_EVAL_DIRS) -> str:
    """``evals/object_counting/x.yaml`` -> ``Object Counting`` (the built-in suite's layout);
    a file directly in ``evals/`` is named after itself."""
    parent = path.resolve().parent.name
    name = path.stem if (not parent or parent in eval_dirs) else parent
    words = [w for w in re.split(r"[_\-\s]+", name) if w]
    return " ".join(w[:1].upper() + w[1:] for w in words) or "Explored"


def schema_ref(path: Path) -> str:
    """The header's schema path: the nearest ``schema/visionevals.schema.json`` above the file,
    else where ``visionevals schema -o schema/visionevals.schema.json`` would put it."""
    folder = path.resolve().parent
    for base in (folder, *folder.parents):
        if (base / SCHEMA_PATH).is_file():
            return Path(os.path.relpath(base / SCHEMA_PATH, folder)).as_posix()
    return Path(os.path.relpath(Path.cwd().resolve() / SCHEMA_PATH, folder)).as_posix()


def render(
    target: SaveTarget, cases: Sequence[NewCase], category: str | None = None
) -> tuple[str, list[str]]:
    """The file's new text and the new cases' ids (nothing is written here)."""
    if not cases:
        raise ValueError("no case to save")
    taken = set(target.ids)
    if target.exists:
        file_category, file_task = target.category, target.task
    else:
        file_category = category or default_category(target.path)
        file_task = cases[0].task
    items: list[dict[str, Any]] = []
    ids: list[str] = []
    for case in cases:
        case_id = case_id_for(case.image, taken)
        taken.add(case_id)
        ids.append(case_id)
        item: dict[str, Any] = {
            "id": case_id,
            "image": image_ref(case.image, target.path),
            "prompt": case.prompt,
        }
        if case.task != file_task:
            item["task"] = case.task
        wanted = category or (None if file_category else default_category(target.path))
        if wanted and wanted != file_category:
            item["category"] = wanted
        item["expect"] = case.expect
        items.append(item)
    block = _dump(items)
    if not target.exists:
        head = _dump({"category": file_category, "task": file_task}, flow=False)
        text = f"{SCHEMA_COMMENT}{schema_ref(target.path)}\n{head}cases:\n{block}"
        return text, ids
    assert target.text is not None
    return _insert(target.text, target.path, block), ids


def save(
    path: Path,
    cases: Sequence[NewCase],
    registry: AssertionRegistry,
    *,
    category: str | None = None,
    known_models: list[str] | None = None,
    work_dir: Path,
) -> list[str]:
    """Append ``cases`` to the eval file at ``path``; returns their ids.

    The file is read again here (it may have been edited while the models answered), and
    the new text must load as pytest loads it, images included, before it replaces the file.
    """
    target = open_target(path, registry, known_models)
    text, ids = render(target, cases, category)
    try:
        loaded = load_eval_text(text, path, registry, known_models)
    except EvalFileError as exc:
        raise SaveError(f"not saved, the file would be invalid: {exc}") from None
    saved = [c for c in loaded.cases if c.id in ids]
    if len(saved) != len(ids):
        raise SaveError(f"{path}: not saved, the new cases did not land in its 'cases' list")
    for case in saved:
        for ref in case.image_refs:
            try:
                resolve_image(ref, path.parent, work_dir)
            except ImageError as exc:
                raise SaveError(f"{path}: case {case.id!r}: not saved: {exc}") from None
    _write_atomic(path, text)
    return ids


class _Dumper(yaml.SafeDumper):
    """Every case written out in full: cases sharing one expect get no &anchor / *alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dump(value: Any, *, flow: bool | None = None) -> str:
    # None: flow style for collections of scalars ([x1, y1, x2, y2]), block style above.
    text: str = yaml.dump(
        value,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=flow,
        width=100,
    )
    return text


def _insert(text: str, path: Path, block: str) -> str:
    """``block`` (a YAML list at column 0) inserted after the last item of ``cases:``."""
    root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    seq = None
    if isinstance(root, yaml.MappingNode):
        seq = next((v for k, v in root.value if getattr(k, "value", None) == "cases"), None)
    if not isinstance(seq, yaml.SequenceNode) or not seq.value:
        raise SaveError(f"{path}: no 'cases' list to append to")
    if seq.flow_style:
        raise SaveError(
            f"{path}:{seq.start_mark.line + 1}: 'cases' is a flow list ([...]); "
            "write it as a block list (one '- id: ...' per case) to append to it"
        )
    end = max(_ends(seq.value[-1]))
    # After the line holding the item's last value (a block scalar ends past its newline).
    newline = text.find("\n", max(end - 1, 0))
    at = len(text) if newline < 0 else newline + 1
    prefix = text[:at] if newline >= 0 else text + "\n"
    indent = " " * seq.start_mark.column  # the column of the list's dashes
    lines = "".join(f"{indent}{line}" if line.strip() else line for line in block.splitlines(True))
    return prefix + lines + text[at:]


def _ends(node: yaml.Node) -> Iterator[int]:
    """End offsets of the scalars and flow collections under ``node`` (block collections
    end where the next token starts, past any comments: not where the item's text ends)."""
    if isinstance(node, yaml.ScalarNode) or getattr(node, "flow_style", False):
        yield node.end_mark.index
        return
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from _ends(key)
            yield from _ends(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _ends(item)
    yield node.start_mark.index


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:  # a new file: what open() would create under the umask
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, mode)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
