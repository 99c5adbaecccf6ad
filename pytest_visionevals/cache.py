"""Content-addressed response cache: every successful answer, replayable for free.

One JSON file per request at ``<dir>/<model name>/<hash[:2]>/<hash>.json``. The hash covers
everything that changes the answer (provider, model id, the endpoint called, generation
parameters, system prompt, prompt, JSON mode, the bytes of every image, the repeat index)
and nothing that does not (timeouts, API keys). The endpoint is in it so that answers
recorded against a test server, a proxy or another vLLM host never replay for another
one; a model with ``shared_recordings: true`` in the catalog shares them across endpoints.
A recording that cannot be read is reported as damaged, never silently treated as absent.
Writes go to a temporary file in the same directory and are renamed into place, so
concurrent xdist workers never see half a file.

Record modes are a closed set, as in vcrpy:

``none``
    Replay only; a request without a recording is an error naming the case, the path
    and the nearest recording (which field differs).
``once`` (default)
    Replay a recorded request; call and record an unrecorded one, unless the same item
    (its node id) already has a recording for a *different* request: then the item is an
    error saying which field changed, so an edited prompt never spends money silently.
``new_episodes``
    Replay what is recorded, call and record everything else (edited requests too); old
    recordings are kept.
``all``
    Never replay: call everything and overwrite the recordings.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from pytest_visionevals.calls import Completion, Request, Usage
from pytest_visionevals.providers.endpoints import recording_scope
from pytest_visionevals.redaction import known_secrets, scrub

if TYPE_CHECKING:
    from pytest_visionevals.models import ModelSpec

RecordMode = Literal["none", "once", "new_episodes", "all"]
RECORD_MODES: tuple[str, ...] = get_args(RecordMode)
CACHE_FORMAT = 1

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def parse_record_mode(raw: str) -> RecordMode:
    if raw not in RECORD_MODES:
        raise ValueError(f"record mode {raw!r}: expected one of {', '.join(RECORD_MODES)}")
    mode: RecordMode = raw  # type: ignore[assignment]
    return mode


@dataclass(frozen=True)
class RequestKey:
    """The content address of one request plus the summary stored next to its answer."""

    digest: str
    summary: dict[str, Any]


def request_key(request: Request, repeat_index: int = 0) -> RequestKey:
    spec = request.model
    params = request.params.model_dump(exclude_none=True)
    images = [hashlib.sha256(img.data).hexdigest() for img in request.images]
    system = request.system
    endpoint = recording_scope(spec)
    material = {
        "provider": spec.provider,
        "model_id": spec.model_id,
        "endpoint": endpoint,
        "params": params,
        "system": system,
        "prompt": request.prompt,
        "json_mode": request.json_mode,
        "images": images,
        "repeat_index": repeat_index,
    }
    blob = json.dumps(material, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(blob.encode("utf-8")).hexdigest()
    summary = {
        "model": spec.name,
        "provider": spec.provider,
        "model_id": spec.model_id,
        "endpoint": endpoint,
        "params": params,
        "system": None if system is None else system[:200],
        "system_sha256": None if system is None else _sha(system),
        "prompt": request.prompt[:200],
        "prompt_sha256": _sha(request.prompt),
        "json_mode": request.json_mode,
        "images": images,
        "repeat_index": repeat_index,
    }
    return RequestKey(digest=digest, summary=summary)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def model_dirname(name: str) -> str:
    """A catalog name as one safe path component (names may contain '/' or ':')."""
    safe = _UNSAFE_NAME.sub("_", name).strip(".")
    return safe or "_"


def completion_to_dict(completion: Completion) -> dict[str, Any]:
    u = completion.usage
    return {
        "text": completion.text,
        "usage": {
            "input_tokens": u.input_tokens,
            "cached_input_tokens": u.cached_input_tokens,
            "output_tokens": u.output_tokens,
            "reasoning_tokens": u.reasoning_tokens,
        },
        "latency_s": completion.latency_s,
        "total_time_s": completion.total_time_s,
        "attempts": completion.attempts,
        "cost_usd": completion.cost_usd,
        "endpoint": completion.endpoint,
        "raw": completion.raw,
        "batch_id": completion.batch_id,
    }


def completion_from_dict(data: dict[str, Any]) -> Completion:
    usage = data.get("usage") or {}
    return Completion(
        text=str(data["text"]),
        usage=Usage(
            input_tokens=usage.get("input_tokens"),
            cached_input_tokens=usage.get("cached_input_tokens"),
            output_tokens=usage.get("output_tokens"),
            reasoning_tokens=usage.get("reasoning_tokens"),
        ),
        latency_s=float(data.get("latency_s") or 0.0),
        total_time_s=float(data.get("total_time_s") or 0.0),
        attempts=int(data.get("attempts") or 1),
        cost_usd=data.get("cost_usd"),
        replayed=True,
        endpoint=data.get("endpoint"),
        raw=data.get("raw"),
        batch_id=data.get("batch_id"),
    )


class DamagedRecording(Exception):
    """A recording that exists but cannot be replayed."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"damaged recording {path}: {why}")
        self.path = path
        self.why = why


@dataclass
class _ModelIndex:
    """One model's recordings, also by item (``conflicting`` runs on every cache miss)."""

    all: list[Recording] = field(default_factory=list)
    by_key: dict[str, list[Recording]] = field(default_factory=dict)

    def add(self, rec: Recording) -> None:
        self.all.append(rec)
        if rec.key:
            self.by_key.setdefault(rec.key, []).append(rec)


@dataclass(frozen=True)
class Recording:
    path: Path
    key: str  # the item's node id (job key) that recorded it
    label: str
    summary: dict[str, Any]


# Fields compared to describe how a request differs from a recording, in report order.
_DIFF_FIELDS = (
    ("prompt_sha256", "prompt"),
    ("system_sha256", "system prompt"),
    ("params", "params"),
    ("images", "image bytes"),
    ("json_mode", "json_mode"),
    ("repeat_index", "repeat index"),
    ("model_id", "model id"),
    ("provider", "provider"),
    ("endpoint", "endpoint"),
)


def describe_difference(wanted: dict[str, Any], recorded: dict[str, Any]) -> list[str]:
    """Human-readable list of what differs between two request summaries."""
    out: list[str] = []
    for field_name, title in _DIFF_FIELDS:
        a, b = wanted.get(field_name), recorded.get(field_name)
        if a == b:
            continue
        if field_name == "params" and isinstance(a, dict) and isinstance(b, dict):
            keys = sorted(set(a) | set(b))
            changed = [f"{k}: {b.get(k)!r} -> {a.get(k)!r}" for k in keys if a.get(k) != b.get(k)]
            out.append("params (" + ", ".join(changed) + ")")
        elif field_name == "prompt_sha256":
            out.append(f"prompt (recorded {recorded.get('prompt', '')[:60]!r}...)")
        elif field_name in ("json_mode", "repeat_index", "model_id", "provider", "endpoint"):
            out.append(f"{title} ({b!r} -> {a!r})")
        else:
            out.append(title)
    return out


class ResponseCache:
    """Thread-safe and multi-process-safe store of answers (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._index: dict[str, _ModelIndex] = {}  # model dir -> its recordings (lazy)

    def path_for(self, model_name: str, digest: str) -> Path:
        return self.root / model_dirname(model_name) / digest[:2] / f"{digest}.json"

    def load(self, model_name: str, key: RequestKey) -> Completion | None:
        """The recorded answer, flagged ``replayed``; None when there is none.

        Raises DamagedRecording when the file exists but cannot be read back (a power cut,
        a bad merge, a hand edit): it is reported, and re-recorded where the mode allows.
        """
        path = self.path_for(model_name, key.digest)
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise DamagedRecording(path, f"unreadable: {exc}") from None
        try:
            entry = json.loads(text)
            completion = completion_from_dict(entry["completion"])
        except ValueError as exc:
            raise DamagedRecording(path, f"not valid JSON ({exc})") from None
        except (KeyError, TypeError, AttributeError) as exc:
            raise DamagedRecording(path, f"no answer in it ({type(exc).__name__}: {exc})") from None
        if not completion.text.strip():
            raise DamagedRecording(path, "its answer is empty")
        return completion

    def store(
        self,
        model_name: str,
        key: RequestKey,
        completion: Completion,
        *,
        request: Request | None = None,
        model: ModelSpec | None = None,
        job_key: str = "",
        label: str = "",
    ) -> Path | None:
        """Record a successful, non-empty answer; returns its path (None if not stored).

        ``request`` (or, for a batch answer collected without it, ``model``) names the
        model whose keys are scrubbed from the payload.
        """
        if not completion.text.strip():
            return None
        data = completion_to_dict(completion)
        data["raw"] = scrub(data["raw"], known_secrets(request.model if request else model))
        entry = {
            "format": CACHE_FORMAT,
            "digest": key.digest,
            "key": job_key,
            "label": label,
            "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "request": key.summary,
            "completion": data,
        }
        path = self.path_for(model_name, key.digest)
        atomic_write_json(path, entry)
        with self._lock:
            index = self._index.get(model_dirname(model_name))
            if index is not None:
                index.add(Recording(path, job_key, label, key.summary))
        return path

    def recordings(self, model_name: str) -> list[Recording]:
        """Every recording of a model (scanned once per process, then kept up to date)."""
        return list(self._model_index(model_name).all)

    def _model_index(self, model_name: str) -> _ModelIndex:
        dirname = model_dirname(model_name)
        with self._lock:
            cached = self._index.get(dirname)
            if cached is not None:
                return cached
        found: list[Recording] = []
        base = self.root / dirname
        if base.is_dir():
            for path in sorted(base.glob("*/*.json")):
                entry = _read_json(path)
                if entry is None or not isinstance(entry.get("request"), dict):
                    continue
                found.append(
                    Recording(
                        path,
                        str(entry.get("key") or ""),
                        str(entry.get("label") or ""),
                        entry["request"],
                    )
                )
        index = _ModelIndex()
        for rec in found:
            index.add(rec)
        with self._lock:
            return self._index.setdefault(dirname, index)

    def conflicting(self, model_name: str, job_key: str, key: RequestKey) -> Recording | None:
        """A recording made by the same item for a different request (``once`` refuses).

        Only recordings of the same endpoint count: switching endpoints is a choice, not
        an edit, and each endpoint keeps its own recordings.
        """
        if not job_key:
            return None
        index = self._model_index(model_name)
        with self._lock:
            same_item = list(index.by_key.get(job_key, ()))
        endpoint = key.summary.get("endpoint")
        for rec in same_item:
            if rec.path.stem != key.digest and rec.summary.get("endpoint") == endpoint:
                return rec
        return None

    def nearest(
        self, model_name: str, key: RequestKey, *, job_key: str = "", label: str = ""
    ) -> tuple[Recording, list[str]] | None:
        """The closest recording: same item, else same case label, else fewest differences."""
        recs = self.recordings(model_name)
        if not recs:
            return None
        same_item = [r for r in recs if job_key and r.key == job_key]
        same_label = [r for r in recs if label and r.label == label]
        pool = same_item or same_label or recs
        best = min(pool, key=lambda r: len(describe_difference(key.summary, r.summary)))
        return best, describe_difference(key.summary, best.summary)

    def missing_message(
        self, model_name: str, key: RequestKey, *, job_key: str, label: str, mode: str
    ) -> str:
        path = self.path_for(model_name, key.digest)
        who = label or job_key or "request"
        head = (
            f"no recorded answer for {who} [{model_name}] (record mode {mode!r}); expected {path}"
        )
        near = self.nearest(model_name, key, job_key=job_key, label=label)
        if near is None:
            return f"{head}; no recordings for {model_name} under {self.root}"
        rec, diff = near
        where = (
            "same item"
            if job_key and rec.key == job_key
            else "same case"
            if label and rec.label == label
            else "closest"
        )
        what = ", ".join(diff) if diff else "nothing visible (same summary)"
        return f"{head}; nearest recording ({where}) {rec.path} differs in: {what}"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def atomic_write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to a temporary file beside ``path`` and rename it into place."""
    # Encoded in one go and written once: json.dump streams many small writes.
    text = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
    except FileNotFoundError:  # the first answer in this shard directory
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
