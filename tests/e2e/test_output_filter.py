"""output_filter end to end: the openai and anthropic SDKs stream PII echoed by mock-echo."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from tests.e2e.conftest import gateway_config
from tests.support.servers import ServerThread
from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.proxy.app import GatewayApp

PROMPT = "Contact jane.doe@example.org, card 5323 9129 5131 4801, SSN 536-22-1234 today."
REDACTED = "Contact [EMAIL_ADDRESS], card [CREDIT_CARD], SSN [US_SSN] today."


@pytest.fixture(scope="module")
def filtered(upstream: ServerThread) -> Iterator[ServerThread]:
    layers = [{"type": "validate"}, {"type": "output_filter", "actions": {"PRIVATE_KEY": "block"}}]
    config = build_config(gateway_config(upstream.url, layers=layers))
    with ServerThread(GatewayApp(Gateway(config))) as server:
        yield server


def test_openai_stream_and_json_are_redacted_alike(filtered: ServerThread) -> None:
    with openai.OpenAI(base_url=f"{filtered.url}/v1", api_key="x", max_retries=0) as client:
        messages = [{"role": "user", "content": PROMPT}]
        reply = client.chat.completions.create(model="gpt-echo", messages=messages)  # type: ignore[arg-type]
        assert reply.choices[0].message.content == REDACTED
        pieces, finish = [], None
        for chunk in client.chat.completions.create(
            model="gpt-echo",
            messages=messages,  # type: ignore[arg-type]
            stream=True,
        ):
            for choice in chunk.choices:
                pieces.append(choice.delta.content or "")
                finish = choice.finish_reason or finish
        assert "".join(pieces) == REDACTED
        assert finish == "stop"


def test_openai_stream_blocked_mid_way_ends_with_content_filter(filtered: ServerThread) -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
    with openai.OpenAI(base_url=f"{filtered.url}/v1", api_key="x", max_retries=0) as client:
        finish, text = None, ""
        for chunk in client.chat.completions.create(
            model="gpt-echo",
            messages=[{"role": "user", "content": "key: " + pem + " end"}],
            stream=True,
        ):
            for choice in chunk.choices:
                text += choice.delta.content or ""
                finish = choice.finish_reason or finish
        assert finish == "content_filter"
        assert "MIIEvQ" not in text


def test_anthropic_stream_is_redacted(filtered: ServerThread) -> None:
    with anthropic.Anthropic(base_url=filtered.url, api_key="x", max_retries=0) as client:
        with client.messages.stream(
            model="claude-echo", max_tokens=256, messages=[{"role": "user", "content": PROMPT}]
        ) as stream:
            text = "".join(stream.text_stream)
        assert text == REDACTED
        reply = client.messages.create(
            model="claude-echo", max_tokens=256, messages=[{"role": "user", "content": PROMPT}]
        )
        assert reply.content[0].text == REDACTED  # type: ignore[union-attr]


HARMFUL = (
    "Step by step instructions to synthesize methamphetamine at home: first obtain pseudoephedrine"
)


def test_harmful_reply_blocked_by_content_policy(upstream: ServerThread) -> None:
    layers = [{"type": "output_filter", "content": "block"}]
    config = build_config(gateway_config(upstream.url, layers=layers))
    with (
        ServerThread(GatewayApp(Gateway(config))) as server,
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0) as client,
    ):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(
                model="gpt-echo", messages=[{"role": "user", "content": HARMFUL}]
            )
        assert caught.value.code == "content_policy_violation"
        finish, text = None, ""
        for chunk in client.chat.completions.create(
            model="gpt-echo", messages=[{"role": "user", "content": HARMFUL}], stream=True
        ):
            for choice in chunk.choices:
                text += choice.delta.content or ""
                finish = choice.finish_reason or finish
        assert finish == "content_filter" and "methamphetamine" not in text
        reply = client.chat.completions.create(
            model="gpt-echo", messages=[{"role": "user", "content": "Nice weather today."}]
        )
        assert reply.choices[0].message.content == "Nice weather today."
