"""The fake server's batch APIs: OpenAI's Batch API and Gemini's Batch Mode.

Routes (the paths the real SDKs use; ``openai`` 3.5x, ``google-genai`` 3.x)::

    POST /v1/files                                   multipart upload, purpose "batch"
    GET  /v1/files/{id}                              the file object
    GET  /v1/files/{id}/content                      the file's bytes (input, output, error)
    POST /v1/batches                                 {input_file_id, endpoint, completion_window}
    GET  /v1/batches/{id}                            status, request_counts, output/error file ids
    POST /v1/batches/{id}/cancel
    POST /{v1beta,v1}/models/{model}:batchGenerateContent   inlined requests
    GET  /{v1beta,v1}/batches/{id}                   an Operation whose metadata is the batch
    POST /{v1beta,v1}/batches/{id}:cancel

A batch answers every request it carries with the server's own answer function, usage
and response hook, ``FakeVLMServer.batch_delay`` seconds after it was created (until then
it is validating / pending, then in progress / running). Per-request faults are the
server's faults added with ``batch=True``; ``script_batch`` makes the next batch end
expired, failed or cancelled (answering only its first ``answered`` requests).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pytest_visionevals.testing.fake_server import Api, FakeVLMServer, Fault, RecordedRequest

BatchFinal = Literal["completed", "expired", "failed", "cancelled"]
BATCH_FINALS: tuple[str, ...] = ("completed", "expired", "failed", "cancelled")

_FILES = re.compile(r"^/v1/files$")
_FILE = re.compile(r"^/v1/files/([^/]+)$")
_FILE_CONTENT = re.compile(r"^/v1/files/([^/]+)/content$")
_BATCHES = re.compile(r"^/v1/batches$")
_BATCH = re.compile(r"^/v1/batches/([^/]+)$")
_BATCH_CANCEL = re.compile(r"^/v1/batches/([^/]+)/cancel$")
_GEMINI_CREATE = re.compile(r"^/(v1|v1beta|v1alpha)/models/([^/:]+):batchGenerateContent$")
_GEMINI_BATCH = re.compile(r"^/(v1|v1beta|v1alpha)/batches/([^/:]+)$")
_GEMINI_CANCEL = re.compile(r"^/(v1|v1beta|v1alpha)/batches/([^/:]+):cancel$")

_GEMINI_STATES = {
    "pending": "BATCH_STATE_PENDING",
    "running": "BATCH_STATE_RUNNING",
    "completed": "BATCH_STATE_SUCCEEDED",
    "failed": "BATCH_STATE_FAILED",
    "expired": "BATCH_STATE_EXPIRED",
    "cancelled": "BATCH_STATE_CANCELLED",
}
EXPIRED_MESSAGE = "This request could not be executed before the completion window expired."
CANCELLED_MESSAGE = "This request was not executed because the batch was cancelled."


@dataclass(frozen=True)
class BatchScript:
    """How the next created batch ends (consumed in FIFO order)."""

    final: BatchFinal
    answered: int = 0  # requests answered before it ended (expired / cancelled)
    message: str = "fake batch failure"  # the batch-level error of a failed batch


@dataclass
class FakeFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int = field(default_factory=lambda: int(time.time()))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
        }


@dataclass
class FakeBatch:
    """One batch as the server keeps it (``FakeVLMServer.batches`` lists them)."""

    id: str
    api: Literal["openai", "gemini"]
    model: str
    endpoint: str  # OpenAI: "/v1/responses"; Gemini: "models/{model}:batchGenerateContent"
    requests: list[RecordedRequest]  # the requests it carries, in order
    custom_ids: list[str]  # OpenAI custom_id / Gemini metadata (JSON), in order
    delay: float
    script: BatchScript | None
    input_file_id: str | None = None
    display_name: str = ""
    created: float = field(default_factory=time.monotonic)
    created_at: int = field(default_factory=lambda: int(time.time()))
    cancelled: bool = False
    final: str | None = None  # set once it ended
    # Per request, in order: (answer text, None) or (None, (status, message)) or None
    # (never executed: expired / cancelled).
    outcomes: list[tuple[str | None, tuple[int, str] | None] | None] = field(default_factory=list)
    output_file_id: str | None = None
    error_file_id: str | None = None
    polls: int = 0

    @property
    def done(self) -> bool:
        return self.final is not None


class BatchStore:
    """The files and batches of one fake server (thread-safe)."""

    def __init__(self, owner: FakeVLMServer) -> None:
        self.owner = owner
        self._lock = threading.Lock()
        self.files: dict[str, FakeFile] = {}
        self.batches: dict[str, FakeBatch] = {}
        self.scripts: list[BatchScript] = []

    # -- routing ------------------------------------------------------------------------
    @staticmethod
    def route(method: str, path: str) -> str | None:
        """The api name recorded for a batch route (None: not a batch route)."""
        if method == "POST" and (
            _FILES.match(path) or _BATCHES.match(path) or _BATCH_CANCEL.match(path)
        ):
            return "batches"
        if method == "GET" and (_FILE.match(path) or _FILE_CONTENT.match(path)):
            return "batches"
        if method == "GET" and _BATCH.match(path):
            return "batches"
        if (method == "POST" and (_GEMINI_CREATE.match(path) or _GEMINI_CANCEL.match(path))) or (
            method == "GET" and _GEMINI_BATCH.match(path)
        ):
            return "gemini-batch"
        return None

    def handle(self, method: str, path: str, raw: bytes, content_type: str) -> tuple[int, Any, str]:
        """(status, payload, content type): payload is JSON-able, or bytes when raw."""
        if method == "POST" and _FILES.match(path):
            return self._upload(raw, content_type)
        if method == "GET" and (m := _FILE_CONTENT.match(path)):
            f = self.files.get(m.group(1))
            if f is None:
                return _not_found(f"no file {m.group(1)}")
            return 200, f.data, "application/octet-stream"
        if method == "GET" and (m := _FILE.match(path)):
            f = self.files.get(m.group(1))
            return (200, f.to_json(), "") if f else _not_found(f"no file {m.group(1)}")
        if method == "POST" and _BATCHES.match(path):
            return self._create_openai(_json(raw))
        if method == "GET" and (m := _BATCH.match(path)):
            return self._get_openai(m.group(1))
        if method == "POST" and (m := _BATCH_CANCEL.match(path)):
            return self._cancel(m.group(1), openai=True)
        if method == "POST" and (m := _GEMINI_CREATE.match(path)):
            return self._create_gemini(m.group(2), _json(raw))
        if method == "GET" and (m := _GEMINI_BATCH.match(path)):
            return self._get_gemini(m.group(2))
        if method == "POST" and (m := _GEMINI_CANCEL.match(path)):
            return self._cancel(m.group(2), openai=False)
        return _not_found(f"no route {method} {path}")

    # -- OpenAI -------------------------------------------------------------------------
    def _upload(self, raw: bytes, content_type: str) -> tuple[int, Any, str]:
        fields = _multipart(raw, content_type)
        data = fields.get("file")
        if data is None:
            return _bad_request("multipart upload without a 'file' part")
        purpose = (fields.get("purpose") or (b"", ""))[0].decode()
        f = FakeFile(f"file-{uuid.uuid4().hex[:24]}", data[1] or "upload", purpose, data[0])
        with self._lock:
            self.files[f.id] = f
        return 200, f.to_json(), ""

    def _create_openai(self, body: Any) -> tuple[int, Any, str]:
        from pytest_visionevals.testing.fake_server import parse_request

        if not isinstance(body, dict):
            return _bad_request("the body must be a JSON object")
        if body.get("completion_window") != "24h":
            return _bad_request("completion_window must be '24h'")
        endpoint = body.get("endpoint")
        if endpoint not in ("/v1/responses", "/v1/chat/completions"):
            return _bad_request(f"unsupported endpoint {endpoint!r}")
        f = self.files.get(str(body.get("input_file_id")))
        if f is None or f.purpose != "batch":
            return _bad_request(f"no batch input file {body.get('input_file_id')!r}")
        requests: list[RecordedRequest] = []
        custom_ids: list[str] = []
        for n, line in enumerate(f.data.decode().splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                return _bad_request(f"line {n} of the input file is not JSON")
            if not isinstance(entry, dict) or entry.get("method") != "POST":
                return _bad_request(f"line {n}: method must be POST")
            if entry.get("url") != endpoint:
                return _bad_request(f"line {n}: url {entry.get('url')!r} is not {endpoint}")
            custom_id = entry.get("custom_id")
            if not isinstance(custom_id, str) or not custom_id or custom_id in custom_ids:
                return _bad_request(f"line {n}: custom_id missing or duplicated")
            api: Api = "responses" if endpoint == "/v1/responses" else "chat"
            requests.append(parse_request(api, endpoint, entry.get("body"), batch=True))
            custom_ids.append(custom_id)
        if not requests:
            return _bad_request("the input file holds no requests")
        model = min(r.model for r in requests)
        batch = self._new_batch("openai", model, endpoint, requests, custom_ids)
        batch.input_file_id = f.id
        return 200, self._openai_json(batch), ""

    def _get_openai(self, batch_id: str) -> tuple[int, Any, str]:
        batch = self._advance(batch_id)
        if batch is None or batch.api != "openai":
            return _not_found(f"no batch {batch_id}")
        return 200, self._openai_json(batch), ""

    def _openai_json(self, b: FakeBatch) -> dict[str, Any]:
        total = len(b.requests)
        if b.done:
            status = b.final
            failed = sum(1 for o in b.outcomes if o is None or o[1] is not None)
            completed = total - failed
        else:
            status = "cancelling" if b.cancelled else self._phase(b, "validating", "in_progress")
            completed = self._progress(b) if status == "in_progress" else 0
            failed = 0
        out: dict[str, Any] = {
            "id": b.id,
            "object": "batch",
            "endpoint": b.endpoint,
            "model": b.model,
            "errors": None,
            "input_file_id": b.input_file_id,
            "completion_window": "24h",
            "status": status,
            "output_file_id": b.output_file_id,
            "error_file_id": b.error_file_id,
            "created_at": b.created_at,
            "expires_at": b.created_at + 86400,
            "request_counts": {"total": total, "completed": completed, "failed": failed},
            "metadata": None,
        }
        if b.final == "failed":
            message = b.script.message if b.script else "failed"
            out["errors"] = {
                "object": "list",
                "data": [{"code": "batch_failed", "message": message, "line": None}],
            }
        return out

    # -- Gemini -------------------------------------------------------------------------
    def _create_gemini(self, model: str, body: Any) -> tuple[int, Any, str]:
        from pytest_visionevals.testing.fake_server import parse_request

        batch = body.get("batch") if isinstance(body, dict) else None
        if not isinstance(batch, dict):
            return _bad_request("the body must be {'batch': {...}}", gemini=True)
        config = batch.get("inputConfig") or {}
        inlined = (config.get("requests") or {}).get("requests")
        if not isinstance(inlined, list) or not inlined:
            return _bad_request("inputConfig.requests.requests must be a list", gemini=True)
        requests: list[RecordedRequest] = []
        keys: list[str] = []
        path = f"/v1beta/models/{model}:generateContent"
        for entry in inlined:
            req_body = entry.get("request") if isinstance(entry, dict) else None
            if not isinstance(req_body, dict):
                return _bad_request("each inlined request needs a 'request'", gemini=True)
            rec = parse_request("gemini", path, req_body, batch=True)
            rec.model = model
            requests.append(rec)
            keys.append(json.dumps(entry.get("metadata") or {}, sort_keys=True))
        b = self._new_batch("gemini", model, f"models/{model}:batchGenerateContent", requests, keys)
        b.display_name = str(batch.get("displayName") or "")
        return 200, self._gemini_json(b), ""

    def _get_gemini(self, batch_id: str) -> tuple[int, Any, str]:
        batch = self._advance(f"batches/{batch_id}")
        if batch is None or batch.api != "gemini":
            return _not_found(f"no batch batches/{batch_id}", gemini=True)
        return 200, self._gemini_json(batch), ""

    def _gemini_json(self, b: FakeBatch) -> dict[str, Any]:
        total = len(b.requests)
        if b.done:
            state = _GEMINI_STATES[b.final or "completed"]
            failed = sum(1 for o in b.outcomes if o is not None and o[1] is not None)
            ok = sum(1 for o in b.outcomes if o is not None and o[0] is not None)
            pending = 0
        else:
            phase = self._phase(b, "pending", "running")
            state = _GEMINI_STATES[phase]
            ok, failed = (self._progress(b) if phase == "running" else 0), 0
            pending = total - ok
        # int64 counters are JSON strings in Google's APIs.
        metadata: dict[str, Any] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
            "model": f"models/{b.model}",
            "displayName": b.display_name,
            "createTime": _rfc3339(b.created_at),
            "updateTime": _rfc3339(int(time.time())),
            "batchStats": {
                "requestCount": str(total),
                "successfulRequestCount": str(ok),
                "failedRequestCount": str(failed),
                "pendingRequestCount": str(pending),
            },
            "state": state,
            "name": b.id,
        }
        out: dict[str, Any] = {"name": b.id, "metadata": metadata}
        if b.done:
            out["done"] = True
            if b.final in ("completed",) or any(o is not None for o in b.outcomes):
                output = {"inlinedResponses": {"inlinedResponses": self._inlined(b)}}
                metadata["output"] = output
                out["response"] = {
                    "@type": "type.googleapis.com/google.ai.generativelanguage.v1main."
                    "GenerateContentBatchOutput",
                    **output,
                }
            if b.final == "failed":
                message = b.script.message if b.script else "failed"
                out["error"] = {"code": 500, "message": message}
        return out

    def _inlined(self, b: FakeBatch) -> list[dict[str, Any]]:
        from pytest_visionevals.testing.fake_server import _error_body, _gemini_body

        owner = self.owner
        out: list[dict[str, Any]] = []
        for req, key, outcome in zip(b.requests, b.custom_ids, b.outcomes, strict=True):
            entry: dict[str, Any] = {}
            metadata = json.loads(key)
            if metadata:
                entry["metadata"] = metadata
            if outcome is None:
                cancelled = b.final == "cancelled"
                message = CANCELLED_MESSAGE if cancelled else EXPIRED_MESSAGE
                entry["error"] = {"code": 499 if cancelled else 504, "message": message}
            elif outcome[1] is not None:
                entry["error"] = _error_body("gemini", *outcome[1])["error"]
            else:
                payload = _gemini_body(b.model, outcome[0] or "", owner.usage, owner.thought_text)
                if owner.response_hook is not None:
                    payload = owner.response_hook(req, payload)
                entry["response"] = payload
            out.append(entry)
        return out

    # -- shared -------------------------------------------------------------------------
    def _new_batch(
        self,
        api: Literal["openai", "gemini"],
        model: str,
        endpoint: str,
        requests: list[RecordedRequest],
        custom_ids: list[str],
    ) -> FakeBatch:
        with self._lock:
            script = self.scripts.pop(0) if self.scripts else None
            ident = uuid.uuid4().hex[:20]
            batch = FakeBatch(
                id=f"batch_{ident}" if api == "openai" else f"batches/{ident}",
                api=api,
                model=model,
                endpoint=endpoint,
                requests=requests,
                custom_ids=custom_ids,
                delay=self.owner.batch_delay,
                script=script,
            )
            self.batches[batch.id] = batch
        return batch

    def _cancel(self, batch_id: str, *, openai: bool) -> tuple[int, Any, str]:
        key = batch_id if openai else f"batches/{batch_id}"
        with self._lock:
            batch = self.batches.get(key)
            if batch is not None and not batch.done:
                batch.cancelled = True
        if batch is None:
            return _not_found(f"no batch {key}", gemini=not openai)
        if openai:
            return 200, self._openai_json(batch), ""
        return 200, {}, ""

    def _phase(self, b: FakeBatch, first: str, second: str) -> str:
        return first if b.polls <= 1 else second

    def _progress(self, b: FakeBatch) -> int:
        """Requests shown done while running: proportional to the time elapsed."""
        if b.delay <= 0:
            return 0
        share = (time.monotonic() - b.created) / b.delay
        return min(len(b.requests) - 1, max(0, int(len(b.requests) * share)))

    def _advance(self, batch_id: str) -> FakeBatch | None:
        """Count a poll; end the batch once its delay is over (or it was cancelled)."""
        with self._lock:
            b = self.batches.get(batch_id)
            if b is None:
                return None
            b.polls += 1
            if b.done:
                return b
            if b.cancelled:
                self._finish(b, "cancelled", answered=0)
            elif time.monotonic() - b.created >= b.delay:
                script = b.script
                if script is None:
                    self._finish(b, "completed", answered=len(b.requests))
                else:
                    answered = len(b.requests) if script.final == "completed" else script.answered
                    self._finish(b, script.final, answered=answered)
            return b

    def _finish(self, b: FakeBatch, final: str, *, answered: int) -> None:
        owner = self.owner
        outcomes: list[tuple[str | None, tuple[int, str] | None] | None] = []
        for i, req in enumerate(b.requests):
            if final == "failed" or i >= answered:
                outcomes.append(None)
                continue
            fault = owner._take_batch_fault(req)
            if fault is not None:
                outcomes.append((None, _fault_error(fault)))
            else:
                outcomes.append((owner._answer_for(req), None))
        b.outcomes = outcomes
        b.final = final
        if b.api == "openai" and final != "failed":
            self._write_openai_files(b)

    def _write_openai_files(self, b: FakeBatch) -> None:
        from pytest_visionevals.testing.fake_server import (
            _chat_body,
            _error_body,
            _responses_body,
        )

        owner = self.owner
        good: list[str] = []
        bad: list[str] = []
        for req, custom_id, outcome in zip(b.requests, b.custom_ids, b.outcomes, strict=True):
            line: dict[str, Any] = {
                "id": f"batch_req_{uuid.uuid4().hex[:20]}",
                "custom_id": custom_id,
            }
            request_id = f"req_{uuid.uuid4().hex[:20]}"
            if outcome is None:
                code = "batch_cancelled" if b.final == "cancelled" else "batch_expired"
                message = CANCELLED_MESSAGE if b.final == "cancelled" else EXPIRED_MESSAGE
                line["response"] = None
                line["error"] = {"code": code, "message": message}
                bad.append(json.dumps(line))
            elif outcome[1] is not None:
                status, message = outcome[1]
                body = _error_body("responses", status, message)
                line["response"] = {"status_code": status, "request_id": request_id, "body": body}
                line["error"] = None
                bad.append(json.dumps(line))
            else:
                text = outcome[0] or ""
                if b.endpoint == "/v1/responses":
                    payload = _responses_body(req.model, text, owner.usage)
                else:
                    payload = _chat_body(req.model, text, owner.usage)
                if owner.response_hook is not None:
                    payload = owner.response_hook(req, payload)
                line["response"] = {"status_code": 200, "request_id": request_id, "body": payload}
                line["error"] = None
                good.append(json.dumps(line))
        # Like the real API: a file only when it has lines.
        if good:
            b.output_file_id = self._store_output(b, "output", good)
        if bad:
            b.error_file_id = self._store_output(b, "error", bad)

    def _store_output(self, b: FakeBatch, kind: str, lines: list[str]) -> str:
        f = FakeFile(
            f"file-{uuid.uuid4().hex[:24]}",
            f"{b.id}_{kind}.jsonl",
            "batch_output",
            ("\n".join(lines) + "\n").encode(),
        )
        self.files[f.id] = f
        return f.id


def _fault_error(fault: Fault) -> tuple[int, str]:
    status = {"429": 429, "500": 500, "malformed": 500}.get(fault.kind, fault.status or 500)
    return status, fault.message or f"fake {status}"


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _multipart(raw: bytes, content_type: str) -> dict[str, tuple[bytes, str | None]]:
    """{field name: (bytes, filename)} of a multipart/form-data body."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + raw)
    out: dict[str, tuple[bytes, str | None]] = {}
    if not message.is_multipart():
        return out
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        out[str(name)] = (data, part.get_filename())
    return out


def _rfc3339(unix: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix))


def _not_found(message: str, *, gemini: bool = False) -> tuple[int, Any, str]:
    from pytest_visionevals.testing.fake_server import _error_body

    return 404, _error_body("gemini" if gemini else "responses", 404, message), ""


def _bad_request(message: str, *, gemini: bool = False) -> tuple[int, Any, str]:
    from pytest_visionevals.testing.fake_server import _error_body

    return 400, _error_body("gemini" if gemini else "responses", 400, message), ""
