"""Pseudonyms round trip: input_guard pseudonymises upstream, output_filter restores the reply."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.e2e.conftest import gateway_config
from tests.support.servers import ServerThread
from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.providers.mock import MockModel, MockSettings, mock_asgi_app
from vallum.proxy.app import GatewayApp

PROMPT = "Please write to jane.doe@example.org about the invoice."


class _Recording:
    """The mock upstream, keeping every request body it received."""

    def __init__(self) -> None:
        self.inner = mock_asgi_app(MockModel(MockSettings(chunks=9)))
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.inner(scope, receive, send)
            return
        messages: list[dict[str, Any]] = []
        while True:
            message = await receive()
            messages.append(message)
            if not message.get("more_body"):
                break
        self.bodies.append(b"".join(m.get("body", b"") for m in messages))
        replay = iter(messages)

        async def again() -> Any:
            return next(replay)

        await self.inner(scope, again, send)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[ServerThread, _Recording]]:
    recording = _Recording()
    with ServerThread(recording) as upstream:  # type: ignore[arg-type]
        layers = [
            {"type": "input_guard", "pii": "pseudonymise"},
            {"type": "output_filter"},
        ]
        config = build_config(gateway_config(upstream.url, layers=layers))
        with ServerThread(GatewayApp(Gateway(config))) as gateway:
            yield gateway, recording


@pytest.mark.parametrize("stream", [False, True])
def test_client_gets_original_upstream_saw_placeholder(
    servers: tuple[ServerThread, _Recording], stream: bool
) -> None:
    gateway, recording = servers
    recording.bodies.clear()
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="x", max_retries=0) as client:
        messages = [{"role": "user", "content": PROMPT}]
        if stream:
            text = ""
            for chunk in client.chat.completions.create(
                model="gpt-echo",
                messages=messages,  # type: ignore[arg-type]
                stream=True,
            ):
                for choice in chunk.choices:
                    text += choice.delta.content or ""
        else:
            reply = client.chat.completions.create(model="gpt-echo", messages=messages)  # type: ignore[arg-type]
            text = reply.choices[0].message.content or ""
    assert text == PROMPT
    [body] = recording.bodies
    assert b"jane.doe@example.org" not in body
    assert b"@example.com about the invoice" in body  # the input guard's fake e-mail
