"""OpenAI's Batch API for the ``openai`` provider (Responses API requests).

A batch is a JSONL file of ``{custom_id, method: "POST", url: "/v1/responses", body}``
lines uploaded with purpose ``batch`` (``client.files.create``), then
``client.batches.create(input_file_id, endpoint="/v1/responses", completion_window="24h")``.
Its status goes validating -> in_progress -> finalizing -> completed (or failed, expired,
cancelling -> cancelled) with ``request_counts``; answered requests are lines
``{id, custom_id, response: {status_code, request_id, body}, error}`` of the output file,
failed ones (and, once a batch expired or was cancelled, the ones never run, with
``error.code`` ``batch_expired`` / ``batch_cancelled``) lines of the error file.
Limits: 50,000 requests and 200 MB per input file (the SDK's ``batches.create`` docs).
Each body is the one a direct call sends (``OpenAIResponsesProvider.build_body``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

import openai

from pytest_visionevals.calls import Completion
from pytest_visionevals.providers._common import (
    MAX_MESSAGE,
    body_message,
    http_error,
    malformed_error,
)
from pytest_visionevals.providers.base import (
    BatchAnswer,
    BatchLine,
    BatchState,
    BatchStatus,
    ProviderError,
)
from pytest_visionevals.providers.endpoints import env_value
from pytest_visionevals.providers.openai_responses import (
    OpenAIResponsesProvider,
    openai_error,
    parse_response,
)
from pytest_visionevals.redaction import redact, scrub
from pytest_visionevals.untrusted import shorten

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pytest_visionevals.calls import Request
    from pytest_visionevals.models import ModelSpec

ENDPOINT: Literal["/v1/responses"] = "/v1/responses"
MAX_REQUESTS = 50_000
MAX_BYTES = 200 * 1000 * 1000  # "up to 200 MB"; decimal megabytes, to stay on the safe side
# Uploads of up to 200 MB and status calls: generous, the SDK retries the idempotent ones.
_TIMEOUT_S = 600.0
_STATES: dict[str, BatchState] = {
    "validating": "pending",
    "in_progress": "running",
    "finalizing": "finalizing",
    "completed": "succeeded",
    "failed": "failed",
    "expired": "expired",
    "cancelling": "cancelling",
    "cancelled": "cancelled",
}
_UNEXECUTED = frozenset({"batch_expired", "batch_cancelled"})


class OpenAIBatchAPI:
    """The Batch API of one ``openai`` model."""

    endpoint: str = ENDPOINT

    def __init__(self, spec: ModelSpec, provider: OpenAIResponsesProvider | None = None) -> None:
        self.spec = spec
        self.provider = provider or OpenAIResponsesProvider(spec)
        self.max_requests = MAX_REQUESTS
        self.max_bytes = MAX_BYTES
        self._client: openai.OpenAI | None = None

    def check_credentials(self) -> None:
        self.provider.check_credentials()

    def _api_key(self) -> str:
        return env_value(self.provider.key_env) or ""

    def client(self) -> openai.OpenAI:
        if self._client is None:
            self._client = openai.OpenAI(
                api_key=self._api_key(),
                base_url=self.provider.base_url(),
                timeout=_TIMEOUT_S,
                max_retries=2,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _error(self, exc: BaseException) -> ProviderError:
        return openai_error(exc, _TIMEOUT_S, (self._api_key(),))

    # -- the contract -------------------------------------------------------------------
    def prepare(self, custom_id: str, request: Request) -> BatchLine:
        line = {
            "custom_id": custom_id,
            "method": "POST",
            "url": ENDPOINT,
            "body": self.provider.build_body(request),
        }
        data = (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        return BatchLine(custom_id, data, len(data))

    def submit(self, lines: Sequence[BatchLine], display_name: str) -> str:
        client = self.client()
        data = b"".join(line.payload for line in lines)
        try:
            upload = client.files.create(
                file=(f"{display_name}.jsonl", data, "application/jsonl"), purpose="batch"
            )
            # No retry: a lost answer to a create that went through would make a twin batch.
            batch = client.with_options(max_retries=0).batches.create(
                input_file_id=upload.id,
                endpoint=ENDPOINT,
                completion_window="24h",
                metadata={"created_by": "pytest-visionevals", "name": display_name[:512]},
            )
        except Exception as exc:
            raise self._error(exc) from None
        return batch.id

    def _retrieve(self, batch_id: str) -> Any:
        try:
            return self.client().batches.retrieve(batch_id)
        except Exception as exc:
            raise self._error(exc) from None

    def status(self, batch_id: str) -> BatchStatus:
        batch = self._retrieve(batch_id)
        counts = batch.request_counts
        error = None
        errors = getattr(getattr(batch, "errors", None), "data", None) or []
        if errors:
            error = "; ".join(str(e.message or e.code or "error") for e in errors[:3])
        return BatchStatus(
            state=_STATES.get(batch.status, "running"),
            provider_state=str(batch.status),
            total=counts.total if counts else None,
            completed=counts.completed if counts else None,
            failed=counts.failed if counts else None,
            error=error,
        )

    def results(self, batch_id: str, custom_ids: Sequence[str]) -> list[BatchAnswer]:
        batch = self._retrieve(batch_id)
        found: dict[str, BatchAnswer] = {}
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            try:
                text = self.client().files.content(file_id).text
            except Exception as exc:
                raise self._error(exc) from None
            for line in text.splitlines():
                if line.strip():
                    answer = self._parse_line(line)
                    if answer is not None:
                        found[answer.custom_id] = answer
        missing = f"no result in the batch's output files (batch {batch.status})"
        return [
            found.get(cid) or BatchAnswer(cid, error=missing, unexecuted=True) for cid in custom_ids
        ]

    def cancel(self, batch_id: str) -> None:
        try:
            self.client().batches.cancel(batch_id)
        except Exception as exc:
            raise self._error(exc) from None

    # -- one line of an output or error file ---------------------------------------------
    def _parse_line(self, line: str) -> BatchAnswer | None:
        secrets = (self._api_key(),)
        try:
            entry = json.loads(line)
        except ValueError:
            return None
        if not isinstance(entry, dict) or not isinstance(entry.get("custom_id"), str):
            return None
        cid = entry["custom_id"]
        response = entry.get("response")
        error = entry.get("error")
        if isinstance(response, dict):
            status = response.get("status_code")
            body = response.get("body")
            if status == 200 and isinstance(body, dict):
                try:
                    # Read as a direct call's JSON body is read.
                    text, usage, raw = parse_response(body, secrets)
                except ProviderError as exc:
                    return BatchAnswer(cid, error=exc.reason)
                except (ValueError, TypeError, KeyError) as exc:
                    failed = malformed_error(f"{type(exc).__name__}: {exc}", secrets)
                    return BatchAnswer(cid, error=failed.reason)
                return BatchAnswer(
                    cid, completion=Completion(text=text, usage=usage, raw=scrub(raw, secrets))
                )
            failed = http_error(
                status if isinstance(status, int) else 0, body_message(body), None, secrets
            )
            return BatchAnswer(cid, error=failed.reason)
        if isinstance(error, dict):
            kind = str(error.get("code") or "error")
            message = shorten(redact(body_message(error) or kind, secrets), MAX_MESSAGE)
            return BatchAnswer(cid, error=f"{kind}: {message}", unexecuted=kind in _UNEXECUTED)
        return BatchAnswer(cid, error="a result line with neither a response nor an error")
