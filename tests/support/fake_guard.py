"""A fake guard service on loopback: the OpenAI moderation, Llama Guard (chat), Azure AI Content
Safety / Prompt Shields and Lakera Guard routes, answering by markers in the text.

``EVIL`` in a text: flagged; ``SLOW``: answers after two seconds; ``BROKEN``: a 500;
``GARBAGE``: a body that is not JSON; ``ODD``: JSON of the wrong shape. Every request is
recorded (path, headers, body) so tests can check what was sent.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

__all__ = ["FakeGuard"]

Receive = Any
Send = Any


def _answer(path: str, body: dict[str, Any], text: str) -> dict[str, Any]:
    evil = "EVIL" in text
    if path == "/v1/moderations":
        scores = {"violence": 0.97 if evil else 0.01, "harassment": 0.02}
        return {"id": "modr-1", "results": [{"flagged": evil, "category_scores": scores}]}
    if path == "/v1/chat/completions":
        content = "unsafe\nS1,S10" if evil else "safe"
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
    if path.endswith("text:shieldPrompt"):
        documents = [{"attackDetected": evil} for _ in body.get("documents", [])]
        return {
            "userPromptAnalysis": {"attackDetected": evil and bool(body.get("userPrompt"))},
            "documentsAnalysis": documents,
        }
    if path.endswith("text:analyze"):
        return {
            "categoriesAnalysis": [
                {"category": "Hate", "severity": 0},
                {"category": "Violence", "severity": 6 if evil else 0},
            ]
        }
    breakdown = [{"detector_type": "prompt_attack", "detected": evil}]
    return {"flagged": evil, "breakdown": breakdown}


def _text_of(body: dict[str, Any]) -> str:
    parts: list[str] = []
    for key in ("input", "text", "userPrompt"):
        if isinstance(body.get(key), str):
            parts.append(body[key])
    parts += [d for d in body.get("documents", []) if isinstance(d, str)]
    parts += [str(m.get("content", "")) for m in body.get("messages", [])]
    return "\n".join(parts)


class FakeGuard:
    """An ASGI app; run it with ``tests.support.servers.ServerThread``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        body = json.loads(raw or b"{}")
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        path = scope["path"] + (
            f"?{scope['query_string'].decode()}" if scope["query_string"] else ""
        )
        self.requests.append({"path": path, "headers": headers, "body": body})
        text = _text_of(body)
        status, payload = 200, b""
        if "SLOW" in text:
            await asyncio.sleep(2.0)
        if "BROKEN" in text:
            status, payload = 500, b'{"error": {"message": "boom"}}'
        elif "GARBAGE" in text:
            payload = b"<html>not json</html>"
        elif "ODD" in text:
            payload = b'{"unexpected": true}'
        else:
            payload = json.dumps(_answer(scope["path"], body, text)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})
