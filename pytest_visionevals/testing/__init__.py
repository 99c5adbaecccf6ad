"""Test helpers shipped with the package (usable by the project's tests and by users).

:class:`FakeVLMServer` speaks the OpenAI Responses, OpenAI-compatible chat completions and
Gemini ``generateContent`` wire formats on 127.0.0.1, so the real SDKs can be exercised
with no network.
"""

from __future__ import annotations

from pytest_visionevals.testing.fake_server import (
    FakeUsage,
    FakeVLMServer,
    Fault,
    RecordedRequest,
)

__all__ = ["FakeUsage", "FakeVLMServer", "Fault", "RecordedRequest"]
