"""The official anthropic SDK against the gateway's /v1/messages route."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from tests.support.servers import ServerThread


@pytest.fixture
def client(gateway: ServerThread) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=gateway.url, api_key="unused", max_retries=0) as c:
        yield c


def test_messages_round_trip(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="claude-echo",
        max_tokens=50,
        system="be kind",
        messages=[{"role": "user", "content": "hello claude"}],
    )
    assert message.content[0].text == "hello claude"  # type: ignore[union-attr]
    assert message.usage.output_tokens == 2


def test_messages_stream(client: anthropic.Anthropic) -> None:
    text = "a streamed anthropic reply with several words"
    with client.messages.stream(
        model="claude-echo", max_tokens=100, messages=[{"role": "user", "content": text}]
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(pieces) == text
    assert final.stop_reason == "end_turn"


def test_tool_result_blocks_are_read(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="claude-echo",
        max_tokens=50,
        messages=[
            {"role": "user", "content": "look it up"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "search", "input": {}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "found it"}],
            },
        ],
    )
    assert message.content[0].text == "found it"  # type: ignore[union-attr]


def test_invalid_role_is_an_anthropic_shaped_400(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model="claude-echo",
            max_tokens=5,
            messages=[{"role": "system", "content": "x"}],  # type: ignore[list-item]
        )
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert body["request_id"].startswith("req_")
    assert caught.value.response.headers["x-request-id"] == body["request_id"]
