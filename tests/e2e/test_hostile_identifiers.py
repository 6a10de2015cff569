"""Control characters in model names and other identifiers: a 400 in the wire format.

Each name below would otherwise match a configured prefix route (``mock-*``, ``claude-*``)
and be forwarded upstream with the control character in it.
"""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.support.servers import ServerThread

CONTROLS = ["\u0000", "\n", "\r", "\u001b", "\u007f", "\u0085", "\u2028"]


@pytest.mark.parametrize("control", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
def test_openai_model_name_with_a_control_character(gateway: ServerThread, control: str) -> None:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)
    with client, pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=f"mock-echo{control}", messages=[{"role": "user", "content": "hi"}]
        )
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["code"] == "invalid_identifier"
    assert error["param"] == "model"
    assert error["request_id"].startswith("req_")


def test_anthropic_model_name_with_nul(gateway: ServerThread) -> None:
    client = anthropic.Anthropic(base_url=gateway.url, api_key="unused", max_retries=0)
    with client, pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model="claude-echo\u0000", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"]["code"] == "invalid_identifier"


def _chat(**extra: Any) -> dict[str, Any]:
    return {"model": "mock-echo", "messages": [{"role": "user", "content": "hi"}], **extra}


IDENTIFIERS = {
    "user": (_chat(user="alice\u0000"), "user"),
    "message name": (
        {"model": "mock-echo", "messages": [{"role": "user", "content": "hi", "name": "a\nb"}]},
        "messages[0].name",
    ),
    "tool name": (
        _chat(tools=[{"type": "function", "function": {"name": "get\u0000x", "parameters": {}}}]),
        "tools[0].name",
    ),
    "tool call id": (
        {
            "model": "mock-echo",
            "messages": [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call\u001b1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
            ],
        },
        "messages[1].tool_calls[0].id",
    ),
}


@pytest.mark.parametrize("case", list(IDENTIFIERS.values()), ids=list(IDENTIFIERS))
def test_other_identifiers_with_control_characters(
    gateway: ServerThread, case: tuple[dict[str, Any], str]
) -> None:
    body, param = case
    reply = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, timeout=5)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == param


def test_ordinary_identifiers_with_unicode_letters_are_served(gateway: ServerThread) -> None:
    body = _chat(user="zoë-ß-東京", messages=[{"role": "user", "content": "hi", "name": "Zoë"}])
    assert httpx.post(f"{gateway.url}/v1/chat/completions", json=body, timeout=5).status_code == 200
