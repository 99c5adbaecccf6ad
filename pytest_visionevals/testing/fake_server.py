"""A scriptable fake VLM API server on 127.0.0.1 for tests and benchmarks.

It speaks three wire formats, enough for the real SDKs to parse:

* ``POST /v1/responses``                               OpenAI Responses API
* ``POST /v1/chat/completions``                        OpenAI-compatible chat completions
* ``POST /{v1,v1beta}/models/{model}:generateContent`` Gemini API

and both batch APIs (OpenAI's files + ``/v1/batches``, Gemini's ``batchGenerateContent`` +
``batches/{id}``): see :mod:`pytest_visionevals.testing.fake_batches`.

Usage::

    with FakeVLMServer(answer={"bottles": "27"}, default_answer="no idea") as srv:
        srv.add_fault("429", retry_after=0.1)          # next request gets a 429
        os.environ["OPENAI_BASE_URL"] = srv.openai_base_url   # http://127.0.0.1:PORT/v1
        os.environ["GOOGLE_GEMINI_BASE_URL"] = srv.base_url   # the SDK adds /v1beta
        ...
        assert srv.requests[-1].images == 1

As a script (for benchmarks), it prints the base URL on the first line and serves until
interrupted::

    python -m pytest_visionevals.testing.fake_server --port 0 --latency 0.25 --answer "27"
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import socket
import struct
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from pytest_visionevals.testing.fake_batches import BatchFinal, BatchScript, BatchStore, FakeBatch

FaultKind = Literal["429", "500", "status", "malformed", "hang", "reset", "truncated"]
# The last two: the batch APIs' own routes (files, batches), not model calls.
Api = Literal["responses", "chat", "gemini", "batches", "gemini-batch"]
MODEL_APIS: tuple[str, ...] = ("responses", "chat", "gemini")

# Header and query names whose values are credentials; recorded as "<redacted>".
_SECRET_HEADERS = frozenset({"authorization", "x-goog-api-key", "api-key", "x-api-key"})
_SECRET_QUERY = frozenset({"key", "api_key"})
REDACTED = "<redacted>"

_GEMINI_PATH = re.compile(r"^/(v1|v1beta|v1alpha)/models/([^/:]+):generateContent$")


@dataclass(frozen=True)
class Fault:
    """One scripted failure, consumed by the first matching request.

    ``kind``: ``"429"`` (with ``Retry-After`` when ``retry_after`` is set), ``"500"``,
    ``"status"`` (any ``status`` code, e.g. 400 or 401), ``"malformed"`` (200 with a
    truncated JSON body), ``"hang"`` (never answers; the client must time out),
    ``"reset"`` (the connection is closed with a TCP reset, no response), ``"truncated"``
    (a 200 whose body stops before its Content-Length, then the connection closes).
    ``path`` / ``model`` / ``prompt``: only requests whose path contains ``path`` / whose
    model equals ``model`` / whose prompt contains ``prompt`` match (``None`` = any).
    ``batch``: False (default) for direct calls only; True for requests inside a batch
    only, where every kind but ``hang`` becomes that request's error (429, or 500 for
    the connection faults) in the batch's results.
    """

    kind: FaultKind
    retry_after: float | str | None = None  # seconds, or an HTTP date string
    status: int | None = None
    path: str | None = None
    model: str | None = None
    message: str | None = None  # error message in the body (default "fake <status>")
    prompt: str | None = None
    batch: bool = False

    def matches(self, path: str, model: str, prompt: str = "", *, batch: bool = False) -> bool:
        return (
            self.batch == batch
            and (self.path is None or self.path in path)
            and (self.model is None or self.model == model)
            and (self.prompt is None or self.prompt in prompt)
        )


@dataclass(frozen=True)
class FakeUsage:
    """Token counts the server reports. ``output_tokens`` includes ``reasoning_tokens``
    and ``input_tokens`` includes ``cached_tokens`` (the billing convention of both APIs),
    so a correct client parses back exactly these numbers from any of the three formats."""

    input_tokens: int = 120
    cached_tokens: int = 0
    output_tokens: int = 20
    reasoning_tokens: int = 0


@dataclass
class RecordedRequest:
    """One request as received. Credential values are replaced by ``<redacted>``."""

    method: str
    path: str  # without the query string
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None when the body was not JSON
    api: Api | None
    model: str
    prompt: str  # user text parts joined with "\n"
    system: str | None  # instructions / system message / systemInstruction text
    images: int  # image parts in the request
    received_at: float = field(default_factory=time.monotonic)
    in_batch: bool = False  # carried by a batch (``FakeVLMServer.batch_requests``)
    answered: bool = False  # a 200 answer was written out in full


AnswerSpec = str | Mapping[str, str] | Callable[[RecordedRequest], str]
ResponseHook = Callable[[RecordedRequest, dict[str, Any]], dict[str, Any]]
# Decides a fault per request (e.g. a seeded random share of them); None: answer normally.
FaultHook = Callable[[RecordedRequest], "Fault | None"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # bursts of 32+ concurrent connections must not be refused
    allow_reuse_address = True
    owner: FakeVLMServer


class FakeVLMServer:
    """A fake OpenAI / Gemini endpoint in a background thread. See the module docstring.

    ``answer``: a fixed string, a mapping ``{substring of the prompt: answer}`` (first
    match in insertion order, else ``default_answer``), or a function of the
    :class:`RecordedRequest`. ``latency``: seconds slept before each answer.
    ``thought_text``: when set, Gemini answers start with a ``thought: true`` part
    holding it (what Gemma 4 and thinking Gemini models return).
    ``response_hook``: ``f(request, payload) -> payload`` edits a successful body before
    it is sent (e.g. drop the candidates to simulate a blocked prompt).
    ``batch_delay``: seconds from a batch's creation until it is answered.
    """

    def __init__(
        self,
        *,
        answer: AnswerSpec | None = None,
        default_answer: str = "OK",
        latency: float = 0.0,
        usage: FakeUsage | None = None,
        thought_text: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        hang_s: float = 60.0,
        response_hook: ResponseHook | None = None,
        batch_delay: float = 0.0,
        fault_hook: FaultHook | None = None,
    ) -> None:
        self.answer: AnswerSpec | None = answer
        self.batch_delay = batch_delay
        self.default_answer = default_answer
        self.latency = latency
        self.usage = usage or FakeUsage()
        self.thought_text = thought_text
        self.hang_s = hang_s
        self.response_hook = response_hook
        self.fault_hook = fault_hook
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._requests: list[RecordedRequest] = []
        self._batch_requests: list[RecordedRequest] = []
        self._in_flight = 0
        self._peak_in_flight = 0
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._batches = BatchStore(self)

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> FakeVLMServer:
        if self._httpd is not None:
            return self
        httpd = _Server((self._host, self._port), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._stopping.clear()
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="FakeVLMServer",
            daemon=True,
        )
        self._thread.start()
        return self

    def shutdown(self) -> None:
        """Stop serving, wake hung handlers, close the socket. Idempotent."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeVLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # -- addresses ----------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeVLMServer is not running (use start() or `with`)")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the Gemini base URL (the SDK appends the version)."""
        return f"http://{self._host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: the OpenAI / OpenAI-compatible base URL."""
        return f"{self.base_url}/v1"

    # -- scripting ------------------------------------------------------------------------
    def add_fault(
        self,
        kind: FaultKind,
        *,
        times: int = 1,
        retry_after: float | str | None = None,
        status: int | None = None,
        path: str | None = None,
        model: str | None = None,
        message: str | None = None,
        prompt: str | None = None,
        batch: bool = False,
    ) -> None:
        """Queue ``times`` copies of a fault; faults are consumed in FIFO order."""
        if kind == "status" and status is None:
            raise ValueError("a 'status' fault needs status=<code>")
        if batch and kind == "hang":
            raise ValueError("a request inside a batch cannot hang; script_batch() ends a batch")
        fault = Fault(
            kind,
            retry_after=retry_after,
            status=status,
            path=path,
            model=model,
            message=message,
            prompt=prompt,
            batch=batch,
        )
        with self._lock:
            self._faults.extend([fault] * times)

    def script_batch(
        self, final: BatchFinal, *, answered: int = 0, message: str = "fake batch failure"
    ) -> None:
        """Make the next batch created end ``final`` (expired, failed, cancelled or
        completed), having answered only its first ``answered`` requests."""
        with self._lock:
            self._batches.scripts.append(BatchScript(final, answered, message))

    def clear(self) -> None:
        """Forget recorded requests, pending faults and the concurrency peak (batches and
        files stay: a later run may still collect them)."""
        with self._lock:
            self._faults.clear()
            self._requests.clear()
            self._batch_requests.clear()
            self._peak_in_flight = self._in_flight

    @property
    def peak_in_flight(self) -> int:
        """The most requests being handled at once (received, not yet answered)."""
        with self._lock:
            return self._peak_in_flight

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def model_calls(self) -> list[RecordedRequest]:
        """Direct model calls only (no batch route, no request carried by a batch)."""
        return [r for r in self.requests if r.api in MODEL_APIS]

    @property
    def batch_requests(self) -> list[RecordedRequest]:
        """Every request carried by a batch created so far, in submission order."""
        with self._lock:
            return list(self._batch_requests)

    @property
    def batches(self) -> list[FakeBatch]:
        """The batches created so far, oldest first."""
        with self._lock:
            return sorted(self._batches.batches.values(), key=lambda b: b.created)

    def count(self, *, path: str | None = None, model: str | None = None) -> int:
        """Requests whose path contains ``path`` and whose model equals ``model``."""
        return sum(
            1
            for r in self.requests
            if (path is None or path in r.path) and (model is None or r.model == model)
        )

    # -- used by the handler ----------------------------------------------------------------
    def _record(self, req: RecordedRequest) -> Fault | None:
        with self._lock:
            self._requests.append(req)
            if req.api not in MODEL_APIS:
                return None
            for i, fault in enumerate(self._faults):
                if fault.matches(req.path, req.model, req.prompt):
                    return self._faults.pop(i)
        return self.fault_hook(req) if self.fault_hook is not None else None

    def _record_batch_requests(self, reqs: list[RecordedRequest]) -> None:
        with self._lock:
            self._batch_requests.extend(reqs)

    def _take_batch_fault(self, req: RecordedRequest) -> Fault | None:
        """The first batch fault matching a request inside a batch (consumed)."""
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.matches(req.path, req.model, req.prompt, batch=True):
                    return self._faults.pop(i)
        return None

    def _answer_for(self, req: RecordedRequest) -> str:
        spec = self.answer
        if spec is None:
            return self.default_answer
        if isinstance(spec, str):
            return spec
        if isinstance(spec, Mapping):
            for needle, text in spec.items():
                if needle in req.prompt:
                    return text
            return self.default_answer
        return spec(req)

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless shutting down; True when woken by shutdown."""
        return self._stopping.wait(seconds) if seconds > 0 else self._stopping.is_set()


# -- request parsing ------------------------------------------------------------------------
def _texts_and_images(content: Any) -> tuple[list[str], int]:
    """Text and image-part count of an OpenAI message ``content`` (str or list of parts)."""
    if isinstance(content, str):
        return [content], 0
    texts: list[str] = []
    images = 0
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind in ("input_text", "text") and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind in ("input_image", "image_url"):
                images += 1
    return texts, images


def _parse_openai(body: Any, api: Api) -> tuple[str, str | None, str, int]:
    """(model, system, prompt, images) of a Responses or chat completions body."""
    if not isinstance(body, dict):
        return "", None, "", 0
    model = str(body.get("model", ""))
    system: list[str] = []
    if api == "responses" and isinstance(body.get("instructions"), str):
        system.append(body["instructions"])
    items = body.get("input") if api == "responses" else body.get("messages")
    texts: list[str] = []
    images = 0
    if isinstance(items, str):
        texts.append(items)
    elif isinstance(items, list):
        for item in items:
            if not isinstance(item, dict):
                continue
            t, n = _texts_and_images(item.get("content"))
            if item.get("role") in ("system", "developer"):
                system.extend(t)
            else:
                texts.extend(t)
            images += n
    return model, ("\n".join(system) if system else None), "\n".join(texts), images


def _parse_gemini(body: Any) -> tuple[str | None, str, int]:
    """(system, prompt, images) of a generateContent body (camelCase or snake_case)."""
    if not isinstance(body, dict):
        return None, "", 0
    texts: list[str] = []
    images = 0
    for content in body.get("contents") or []:
        for part in (content or {}).get("parts") or []:
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
            if "inlineData" in part or "inline_data" in part or "fileData" in part:
                images += 1
    sys_obj = body.get("systemInstruction") or body.get("system_instruction")
    system = None
    if isinstance(sys_obj, dict):
        parts = [p.get("text", "") for p in sys_obj.get("parts") or [] if isinstance(p, dict)]
        system = "\n".join(parts)
    return system, "\n".join(texts), images


# -- response bodies ------------------------------------------------------------------------
def _responses_body(model: str, text: str, u: FakeUsage) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    if u.reasoning_tokens:
        output.append({"type": "reasoning", "id": f"rs_{uuid.uuid4().hex}", "summary": []})
    output.append(
        {
            "type": "message",
            "id": f"msg_{uuid.uuid4().hex}",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
    )
    return {
        "id": f"resp_{uuid.uuid4().hex}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": u.input_tokens,
            "input_tokens_details": {"cached_tokens": u.cached_tokens},
            "output_tokens": u.output_tokens,
            "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
            "total_tokens": u.input_tokens + u.output_tokens,
        },
    }


def _chat_body(model: str, text: str, u: FakeUsage) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": text},
            }
        ],
        "usage": {
            "prompt_tokens": u.input_tokens,
            "completion_tokens": u.output_tokens,
            "total_tokens": u.input_tokens + u.output_tokens,
            "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        },
    }


def _gemini_body(model: str, text: str, u: FakeUsage, thought: str | None) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if thought is not None:
        parts.append({"text": thought, "thought": True})
    parts.append({"text": text})
    usage: dict[str, Any] = {
        "promptTokenCount": u.input_tokens,
        # Gemini reports visible output and thoughts apart; both are billed as output.
        "candidatesTokenCount": u.output_tokens - u.reasoning_tokens,
        "totalTokenCount": u.input_tokens + u.output_tokens,
    }
    if u.reasoning_tokens:
        usage["thoughtsTokenCount"] = u.reasoning_tokens
    if u.cached_tokens:
        usage["cachedContentTokenCount"] = u.cached_tokens
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": parts},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": uuid.uuid4().hex[:20],
    }


def _error_body(api: Api | None, status: int, message: str) -> dict[str, Any]:
    if api == "gemini":
        names = {
            429: "RESOURCE_EXHAUSTED",
            400: "INVALID_ARGUMENT",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
            503: "UNAVAILABLE",
        }
        return {
            "error": {"code": status, "message": message, "status": names.get(status, "INTERNAL")}
        }
    kinds = {
        429: "rate_limit_error",
        400: "invalid_request_error",
        401: "authentication_error",
        404: "not_found_error",
    }
    return {
        "error": {
            "message": message,
            "type": kinds.get(status, "server_error"),
            "code": None,
            "param": None,
        }
    }


def parse_request(api: Api | None, path: str, body: Any, *, batch: bool = False) -> RecordedRequest:
    """A model request as recorded (a direct call, or one line / entry of a batch)."""
    model = ""
    system: str | None = None
    prompt = ""
    images = 0
    if api in ("responses", "chat"):
        model, system, prompt, images = _parse_openai(body, api)
    elif api == "gemini":
        m = _GEMINI_PATH.match(path)
        model = m.group(2) if m else ""
        system, prompt, images = _parse_gemini(body)
    return RecordedRequest(
        method="POST",
        path=path,
        query={},
        headers={},
        body=body,
        api=api,
        model=model,
        prompt=prompt,
        system=system,
        images=images,
        in_batch=batch,
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real API; bodies carry Content-Length
    # Headers and body go out in two writes; with Nagle on, the body waits for the
    # client's delayed ACK (~40 ms on Linux). Real API front ends set TCP_NODELAY too.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        if BatchStore.route("GET", split.path) is None:
            self._send_json(404, {"error": {"message": f"no GET route {self.path}"}})
            return
        self._batch_route(self.server.owner, "GET", b"")

    def do_POST(self) -> None:
        owner = self.server.owner
        with owner._lock:
            owner._in_flight += 1
            owner._peak_in_flight = max(owner._peak_in_flight, owner._in_flight)
        try:
            self._post(owner)
        finally:
            with owner._lock:
                owner._in_flight -= 1

    def _meta(self) -> tuple[str, dict[str, str], dict[str, str]]:
        """The path, query and headers of this request, credentials redacted."""
        split = urlsplit(self.path)
        query = {
            k: (REDACTED if k.lower() in _SECRET_QUERY else v) for k, v in parse_qsl(split.query)
        }
        headers = {
            k.lower(): (REDACTED if k.lower() in _SECRET_HEADERS else v)
            for k, v in self.headers.items()
        }
        return split.path, query, headers

    def _batch_route(self, owner: FakeVLMServer, method: str, raw: bytes) -> None:
        path, query, headers = self._meta()
        api = BatchStore.route(method, path)
        body: Any = None
        if raw and not headers.get("content-type", "").startswith("multipart/"):
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        req = RecordedRequest(method, path, query, headers, body, api, "", "", None, 0)  # type: ignore[arg-type]
        owner._record(req)
        before = len(owner._batches.batches)
        status, payload, ctype = owner._batches.handle(
            method, path, raw, self.headers.get("Content-Type", "")
        )
        with owner._lock:
            created = list(owner._batches.batches.values())[before:]
        for batch in created:
            owner._record_batch_requests(batch.requests)
        if isinstance(payload, bytes):
            self._send_raw(status, payload, ctype or "application/octet-stream")
        else:
            self._send_json(status, payload)

    def _post(self, owner: FakeVLMServer) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path, query, headers = self._meta()
        if BatchStore.route("POST", path) is not None:
            self._batch_route(owner, "POST", raw)
            return
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        api: Api | None = None
        if path.endswith("/responses"):
            api = "responses"
        elif path.endswith("/chat/completions"):
            api = "chat"
        elif _GEMINI_PATH.match(path):
            api = "gemini"
        req = parse_request(api, path, body)
        req.query, req.headers = query, headers
        fault = owner._record(req)
        if api is None:
            self._send_json(404, {"error": {"message": f"no route {path}"}})
            return
        if fault is not None and self._apply_fault(fault, api):
            return
        if owner._sleep(owner.latency):
            return  # shutting down
        text = owner._answer_for(req)
        model = req.model
        if api == "responses":
            payload = _responses_body(model, text, owner.usage)
        elif api == "chat":
            payload = _chat_body(model, text, owner.usage)
        else:
            payload = _gemini_body(model, text, owner.usage, owner.thought_text)
        if owner.response_hook is not None:
            payload = owner.response_hook(req, payload)
        req.answered = self._send_json(200, payload)

    def _apply_fault(self, fault: Fault, api: Api) -> bool:
        """Send the fault's response; False when the request should be answered normally."""
        owner = self.server.owner
        if fault.kind == "hang":
            owner._sleep(owner.hang_s)
            self.close_connection = True
            return True
        if fault.kind == "malformed":
            self._send_raw(200, b'{"id": "truncated", "output": [', "application/json")
            return True
        if fault.kind == "reset":
            # SO_LINGER 0: close() sends RST, as a crashed proxy or load balancer does.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return True
        if fault.kind == "truncated":
            body = json.dumps({"id": "cut", "output": [{"type": "message"}] * 20}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return True
        status = {"429": 429, "500": 500}.get(fault.kind, fault.status or 500)
        extra = {}
        if fault.retry_after is not None:
            ra = fault.retry_after
            extra["Retry-After"] = ra if isinstance(ra, str) else f"{ra:g}"
        message = fault.message or f"fake {status}"
        self._send_json(status, _error_body(api, status, message), extra)
        return True

    def _send_json(self, status: int, payload: Any, extra: Mapping[str, str] | None = None) -> bool:
        return self._send_raw(status, json.dumps(payload).encode(), "application/json", extra)

    def _send_raw(
        self, status: int, data: bytes, ctype: str, extra: Mapping[str, str] | None = None
    ) -> bool:
        """Write a response; False when the client was gone."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout); nothing to do
            return False
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_visionevals.testing.fake_server",
        description="Serve a fake OpenAI / Gemini API on 127.0.0.1 (prints the base URL).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    parser.add_argument(
        "--batch-delay", type=float, default=0.0, help="seconds until a batch is answered"
    )
    parser.add_argument("--answer", default="OK", help="the default answer")
    parser.add_argument(
        "--answer-map",
        default=None,
        metavar="JSON",
        help='JSON object {"substring of prompt": "answer", ...}',
    )
    parser.add_argument("--input-tokens", type=int, default=FakeUsage.input_tokens)
    parser.add_argument("--output-tokens", type=int, default=FakeUsage.output_tokens)
    parser.add_argument("--reasoning-tokens", type=int, default=FakeUsage.reasoning_tokens)
    args = parser.parse_args(argv)
    mapping = json.loads(args.answer_map) if args.answer_map else None
    if mapping is not None and not isinstance(mapping, dict):
        parser.error("--answer-map must be a JSON object")
    server = FakeVLMServer(
        answer=mapping,
        default_answer=args.answer,
        latency=args.latency,
        batch_delay=args.batch_delay,
        host=args.host,
        port=args.port,
        usage=FakeUsage(
            input_tokens=args.input_tokens,
            output_tokens=args.output_tokens,
            reasoning_tokens=args.reasoning_tokens,
        ),
    )
    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with server:
        print(server.base_url, flush=True)
        print(f"OPENAI_BASE_URL={server.openai_base_url}", file=sys.stderr, flush=True)
        print(f"GOOGLE_GEMINI_BASE_URL={server.base_url}", file=sys.stderr, flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
