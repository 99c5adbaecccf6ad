"""Gemini Batch Mode for the ``google`` provider (Gemini API, not Vertex AI).

A batch is ``client.batches.create(model=..., src=[InlinedRequest, ...], config=...)``
(``POST /{version}/models/{model}:batchGenerateContent``); ``client.batches.get(name=)``
(``GET /{version}/batches/{id}``) gives its state (``JOB_STATE_PENDING`` / ``RUNNING`` /
``SUCCEEDED`` / ``FAILED`` / ``CANCELLED`` / ``EXPIRED``: the SDK's names for the API's
``BATCH_STATE_*``) and, once ended, ``dest.inlined_responses``: one per request, in the
order submitted, each with a ``response`` or an ``error``. Each request is what a direct
call sends (``GoogleProvider.build_call``), converted to the wire format by the SDK.

Inlined requests only, split into batches under the documented ~20 MB total: the SDK then
writes every request's JSON itself. (The file route would mean writing
``GenerateContentRequest`` JSON by hand, a second copy of the SDK's converters.) The SDK
does not expose the batch's request counts, so they are known once the batch has ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from google.genai import types

from pytest_visionevals.calls import Completion
from pytest_visionevals.providers._common import MAX_MESSAGE
from pytest_visionevals.providers.base import (
    BatchAnswer,
    BatchLine,
    BatchState,
    BatchStatus,
    ProviderError,
)
from pytest_visionevals.providers.google import GoogleProvider, google_error, parse_response
from pytest_visionevals.redaction import redact, scrub
from pytest_visionevals.untrusted import shorten

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pytest_visionevals.calls import Request
    from pytest_visionevals.models import ModelSpec

ENDPOINT = "batchGenerateContent"
# "Inline requests ... suitable for smaller batches where the total request size stays
# under 20MB" (ai.google.dev/gemini-api/docs/batch-api). Cut below it: room for the
# envelope and for the estimate's slack.
MAX_BYTES = 19 * 1000 * 1000
MAX_REQUESTS = 50_000  # not documented for inline requests; bounds one batch anyway
_TIMEOUT_S = 600.0
_PER_REQUEST_OVERHEAD = 1024  # JSON keys, generation config, metadata
_STATES: dict[str, BatchState] = {
    "JOB_STATE_UNSPECIFIED": "pending",
    "JOB_STATE_QUEUED": "pending",
    "JOB_STATE_PENDING": "pending",
    "JOB_STATE_PAUSED": "pending",
    "JOB_STATE_RUNNING": "running",
    "JOB_STATE_UPDATING": "running",
    "JOB_STATE_SUCCEEDED": "succeeded",
    "JOB_STATE_PARTIALLY_SUCCEEDED": "succeeded",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLING": "cancelling",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_EXPIRED": "expired",
}


class GoogleBatchAPI:
    """Gemini Batch Mode for one ``google`` model."""

    endpoint: str = ENDPOINT

    def __init__(self, spec: ModelSpec, provider: GoogleProvider | None = None) -> None:
        self.spec = spec
        self.provider = provider or GoogleProvider(spec)
        self.max_requests = MAX_REQUESTS
        self.max_bytes = MAX_BYTES

    def check_credentials(self) -> None:
        self.provider.check_credentials()

    def _error(self, exc: BaseException) -> ProviderError:
        if isinstance(exc, ProviderError):
            return exc
        return google_error(exc, _TIMEOUT_S, self.provider.secrets())

    def prepare(self, custom_id: str, request: Request) -> BatchLine:
        contents, config = self.provider.build_call(request)
        inlined = types.InlinedRequest(
            contents=contents, config=config, metadata={"key": custom_id}
        )
        # Images travel base64-encoded: 4 bytes per 3.
        size = sum(4 * ((len(img.data) + 2) // 3) for img in request.images)
        size += len(request.prompt.encode()) + len((request.system or "").encode())
        return BatchLine(custom_id, inlined, size + _PER_REQUEST_OVERHEAD)

    def submit(self, lines: Sequence[BatchLine], display_name: str) -> str:
        client = self.provider.client_for(_TIMEOUT_S)
        try:
            job = client.batches.create(
                model=self.spec.model_id,
                src=[line.payload for line in lines],
                config=types.CreateBatchJobConfig(display_name=display_name[:128]),
            )
        except Exception as exc:
            raise self._error(exc) from None
        if not job.name:
            raise ProviderError("the batch was created without a name")
        return job.name

    def _get(self, batch_id: str) -> types.BatchJob:
        try:
            return self.provider.client_for(_TIMEOUT_S).batches.get(name=batch_id)
        except Exception as exc:
            raise self._error(exc) from None

    def status(self, batch_id: str) -> BatchStatus:
        job = self._get(batch_id)
        name = job.state.name if job.state is not None else "JOB_STATE_UNSPECIFIED"
        state = _STATES.get(name, "running")
        error = None
        if job.error is not None:
            error = job.error.message or f"code {job.error.code}"
        completed = failed = None
        responses = _responses(job)
        if state in ("succeeded", "failed", "expired", "cancelled") and responses is not None:
            failed = sum(1 for r in responses if r.error is not None or r.response is None)
            completed = len(responses) - failed
        return BatchStatus(
            state=state,
            provider_state=name,
            completed=completed,
            failed=failed,
            error=error,
        )

    def results(self, batch_id: str, custom_ids: Sequence[str]) -> list[BatchAnswer]:
        job = self._get(batch_id)
        responses = _responses(job) or []
        by_key: dict[str, types.InlinedResponse] = {}
        for r in responses:
            key = (r.metadata or {}).get("key")
            if key:
                by_key[key] = r
        ended = job.state.name if job.state is not None else "unknown state"
        out: list[BatchAnswer] = []
        for i, cid in enumerate(custom_ids):
            # Responses come in the order submitted; the key, when echoed, confirms it.
            found = by_key.get(cid) or (responses[i] if len(responses) == len(custom_ids) else None)
            if found is None:
                out.append(
                    BatchAnswer(cid, error=f"no result in the batch ({ended})", unexecuted=True)
                )
            else:
                out.append(self._answer(cid, found))
        return out

    def _answer(self, cid: str, r: types.InlinedResponse) -> BatchAnswer:
        secrets = self.provider.secrets()
        if r.error is not None:
            # A google.rpc.Status: its code may be gRPC's, not HTTP's; say it as it is.
            message = shorten(redact(r.error.message or "no message", secrets), MAX_MESSAGE)
            return BatchAnswer(cid, error=f"error {r.error.code}: {message}")
        if r.response is None:
            return BatchAnswer(cid, error="neither a response nor an error", unexecuted=True)
        try:
            text, usage, raw = parse_response(r.response)
        except ProviderError as exc:
            return BatchAnswer(cid, error=exc.reason)
        return BatchAnswer(
            cid, completion=Completion(text=text, usage=usage, raw=scrub(raw, secrets))
        )

    def cancel(self, batch_id: str) -> None:
        try:
            self.provider.client_for(_TIMEOUT_S).batches.cancel(name=batch_id)
        except Exception as exc:
            raise self._error(exc) from None


def _responses(job: types.BatchJob) -> list[types.InlinedResponse] | None:
    dest: Any = job.dest
    return None if dest is None else dest.inlined_responses
