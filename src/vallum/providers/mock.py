"""The built-in mock model: an in-process upstream speaking OpenAI's and Anthropic's wire formats.

Used by ``vallum demo``, ``make run`` and tests; ``mock_asgi_app`` serves it over real HTTP.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final, Protocol
from urllib.parse import urlsplit

import orjson

from vallum.errors import BadRequest
from vallum.providers import mock_responses
from vallum.providers import mock_wire as wire
from vallum.providers.base import UpstreamRequest, UpstreamResponse
from vallum.providers.mock_script import Directive, find_directive

__all__ = ["ASGIApp", "MockModel", "MockSettings", "mock_asgi_app"]

_JSON_HEADERS: Final = (("content-type", "application/json"),)
_SSE_HEADERS: Final = (("content-type", "text/event-stream"),)
_SLOW_SECONDS: Final = 30.0
_MAX_DIMENSIONS: Final = 4096
_WORD = re.compile(r"\S+")
_TOOL_PHRASE: Final = "call tool"
_RESPONSE_ECHO: Final = ("instructions", "max_output_tokens", "temperature", "tools", "top_p")
_TEXT_PARTS: Final = frozenset({"text", "input_text", "output_text"})


Body = Mapping[str, object]
_Rendered = wire.Json | list[bytes]  # a whole JSON body, or the events of a stream


@dataclass(frozen=True)
class MockSettings:
    reply: str = "Hello! This is Vallum's mock model."  # mock-fast's fixed reply
    chunks: int = 20  # content events per stream: the text cut into ~equal pieces (fewer if short)
    chunk_gap: float = 0.0  # seconds between stream events
    latency: float = 0.0  # seconds before the first byte
    # named directives, played by a [[mock:run:NAME]] marker (see mock_script)
    scripts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Turn:
    """What the mock read from a request, whichever API it came through."""

    echo_text: str  # the last user or tool message: what mock-echo repeats
    trigger_text: str  # the last message if a user wrote it: where "call tool" is looked for
    prompt_tokens: int
    tool_name: str | None
    limit: int | None
    script: Directive | None = None  # a directive in the last user or tool message


def _words(text: str) -> int:
    """Token count approximation: whitespace-separated words."""
    return len(text.split())


def _truncate(text: str, limit: int | None) -> tuple[str, bool]:
    """Keep the first ``limit`` words (original spacing kept); say whether anything was cut."""
    if limit is None:
        return text, False
    matches = list(itertools.islice(_WORD.finditer(text), limit + 1))
    if len(matches) <= limit:
        return text, False
    return (text[: matches[limit - 1].end()] if limit else ""), True


# --- reading requests --------------------------------------------------------------------------


def _list(body: Body, key: str) -> list[object]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest(f"'{key}' must be an array", param=key)
    return value


def _objects(body: Body, key: str) -> list[Body]:
    items = _list(body, key)
    if not all(isinstance(item, dict) for item in items):
        raise BadRequest(f"every item of '{key}' must be an object", param=key)
    return [item for item in items if isinstance(item, dict)]


def _positive_int(body: Body, key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadRequest(f"'{key}' must be a positive integer", param=key)
    return value


def _content_text(content: object) -> str:
    """Text of a string or of a list of parts; images and other parts are skipped."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = [_part_text(part) for part in content if isinstance(part, dict)]
    return "\n".join(text for text in texts if text is not None)


def _part_text(part: Body) -> str | None:
    kind = part.get("type")
    text = part.get("text")
    if kind in _TEXT_PARTS and isinstance(text, str):
        return text
    if kind == "tool_result":
        return _content_text(part.get("content"))
    return None


def _first_tool_name(body: Body) -> str | None:
    tools = _objects(body, "tools")
    if not tools:
        return None
    function = tools[0].get("function")
    source = function if isinstance(function, dict) else tools[0]  # OpenAI chat nests it
    name = source.get("name")
    return name if isinstance(name, str) else "tool"


def _turn(
    entries: list[tuple[str, str]], body: Body, limit: int | None, scripts: Mapping[str, str]
) -> _Turn:
    """Build a turn from ``(role, text)`` pairs, where role is user, tool, assistant or system."""
    echo = next((text for role, text in reversed(entries) if role in ("user", "tool")), "")
    trigger = entries[-1][1] if entries and entries[-1][0] == "user" else ""
    last = entries[-1][1] if entries and entries[-1][0] in ("user", "tool") else ""
    prompt_tokens = sum(_words(text) for _, text in entries)
    return _Turn(
        echo, trigger, prompt_tokens, _first_tool_name(body), limit, find_directive(last, scripts)
    )


def _chat_turn(body: Body, scripts: Mapping[str, str]) -> _Turn:
    entries = [
        (str(m.get("role")), _content_text(m.get("content"))) for m in _objects(body, "messages")
    ]
    limit = _positive_int(body, "max_completion_tokens") or _positive_int(body, "max_tokens")
    return _turn(entries, body, limit, scripts)


def _anthropic_role(message: Body) -> str:
    content = message.get("content")
    has_result = isinstance(content, list) and any(
        isinstance(block, dict) and block.get("type") == "tool_result" for block in content
    )
    return "tool" if has_result else str(message.get("role"))


def _messages_turn(body: Body, scripts: Mapping[str, str]) -> _Turn:
    entries = [("system", _content_text(body.get("system")))]
    entries += [
        (_anthropic_role(m), _content_text(m.get("content"))) for m in _objects(body, "messages")
    ]
    return _turn(entries, body, _positive_int(body, "max_tokens"), scripts)


def _response_entry(item: Body) -> tuple[str, str]:
    kind = item.get("type")
    if kind == "function_call_output":
        return "tool", _content_text(item.get("output"))
    if kind == "function_call":
        return "assistant", str(item.get("arguments", ""))
    return str(item.get("role", "user")), _content_text(item.get("content"))


def _responses_turn(body: Body, scripts: Mapping[str, str]) -> _Turn:
    entries = [("system", _content_text(body.get("instructions")))]
    raw = body.get("input")
    if isinstance(raw, str):
        entries.append(("user", raw))
    else:
        entries += [_response_entry(item) for item in _objects(body, "input")]
    return _turn(entries, body, _positive_int(body, "max_output_tokens"), scripts)


def _prompts(body: Body) -> list[str]:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        return [p for p in prompt if isinstance(p, str)]
    raise BadRequest("'prompt' must be a string or an array of strings", param="prompt")


def _embedding_inputs(body: Body) -> list[tuple[str, int]]:
    """Each input as (hash key, token count); strings count words, token arrays their length."""
    raw = body.get("input")
    if isinstance(raw, str):
        return [(raw, _words(raw))]
    if isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw):
        raw = [raw]  # one pre-tokenised input
    if not isinstance(raw, list) or not raw:
        raise BadRequest("'input' must be a string or a non-empty array", param="input")
    inputs: list[tuple[str, int]] = []
    for item in raw:
        if isinstance(item, str):
            inputs.append((item, _words(item)))
        elif isinstance(item, list) and all(isinstance(t, int) for t in item):
            inputs.append(("tokens:" + ",".join(map(str, item)), len(item)))
        else:
            raise BadRequest("'input' items must be strings or arrays of integers", param="input")
    return inputs


def _include_usage(body: Body) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _choice_count(body: Body) -> int:
    return _positive_int(body, "n") or 1


# --- the model ---------------------------------------------------------------------------------


class MockModel:
    """Answers ``UpstreamRequest``s like OpenAI or Anthropic would, without any network."""

    MODELS: Final = ("mock-fast", "mock-echo", "mock-embed")

    def __init__(
        self,
        settings: MockSettings | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or MockSettings()
        self._sleep = sleep
        self._clock = clock
        self._ids = itertools.count(1)
        self._routes: dict[str, Callable[[wire.Frame, Body, bool], _Rendered]] = {
            "/v1/chat/completions": self._chat,
            "/v1/completions": self._completions,
            "/v1/embeddings": self._embeddings,
            "/v1/responses": self._responses,
            "/v1/messages": self._messages,
        }

    async def handle(self, request: UpstreamRequest) -> UpstreamResponse:
        path = urlsplit(request.url).path.rstrip("/")
        anthropic = path.endswith("/v1/messages")
        if path.endswith("/v1/models"):
            return await self._get_models(request.method)
        route = next((r for suffix, r in self._routes.items() if path.endswith(suffix)), None)
        if route is None:
            return _error(404, f"Invalid URL ({request.method} {path})", "not_found", anthropic)
        if request.method.upper() != "POST":
            return _error(
                405, f"Method {request.method} not allowed", "method_not_allowed", anthropic
            )
        try:
            body = _parse_body(request.body)
            model = _model_name(body)
            if (hooked := await self._test_hook(model, anthropic)) is not None:
                return hooked
            stream = body.get("stream") is True
            frame = wire.Frame(
                next(self._ids),
                int(self._clock()),
                model,
                self.settings.chunks,
                _include_usage(body),
            )
            rendered = route(frame, body, stream)
        except BadRequest as exc:
            return _error(400, exc.public_message, exc.code, anthropic, param=exc.param)
        await self._wait(self.settings.latency)
        if isinstance(rendered, list):
            return UpstreamResponse(200, list(_SSE_HEADERS), stream=self._paced(rendered))
        return UpstreamResponse(200, list(_JSON_HEADERS), body=orjson.dumps(rendered))

    async def _get_models(self, method: str) -> UpstreamResponse:
        if method.upper() != "GET":
            return _error(405, f"Method {method} not allowed", "method_not_allowed", False)
        await self._wait(self.settings.latency)
        body = wire.models_body(self.MODELS, int(self._clock()))
        return UpstreamResponse(200, list(_JSON_HEADERS), body=orjson.dumps(body))

    async def _test_hook(self, model: str, anthropic: bool) -> UpstreamResponse | None:
        if model == "mock-error-500":
            return _error(
                500, "The mock model failed on purpose (mock-error-500).", None, anthropic
            )
        if model == "mock-error-429":
            message = "Rate limit reached for mock-error-429; retry after 1 second."
            return _error(
                429, message, "rate_limit_exceeded", anthropic, headers=[("retry-after", "1")]
            )
        if model == "mock-slow":
            await self._sleep(_SLOW_SECONDS)
        return None

    async def _wait(self, seconds: float) -> None:
        if seconds > 0:
            await self._sleep(seconds)

    async def _paced(self, events: list[bytes]) -> AsyncIterator[bytes]:
        for position, event in enumerate(events):
            if position:
                await self._wait(self.settings.chunk_gap)
            yield event

    def _compose(self, model: str, turn: _Turn) -> wire.Reply:
        if turn.script is not None:
            return _scripted(turn.script, turn)
        if turn.tool_name is not None and _TOOL_PHRASE in turn.trigger_text.lower():
            arguments = orjson.dumps({"query": turn.trigger_text}).decode()
            return wire.Reply(
                "", "tool_calls", turn.prompt_tokens, _words(arguments), turn.tool_name, arguments
            )
        text = turn.echo_text if model == "mock-echo" else self.settings.reply
        text, cut = _truncate(text, turn.limit)
        return wire.Reply(text, "length" if cut else "stop", turn.prompt_tokens, _words(text))

    def _chat(self, frame: wire.Frame, body: Body, stream: bool) -> _Rendered:
        reply = self._compose(frame.model, _chat_turn(body, self.settings.scripts))
        n = _choice_count(body)
        return wire.chat_events(frame, reply, n) if stream else wire.chat_body(frame, reply, n)

    def _completions(self, frame: wire.Frame, body: Body, stream: bool) -> _Rendered:
        prompts = _prompts(body)
        limit = _positive_int(body, "max_tokens")
        n = _choice_count(body)
        replies = [
            self._compose(frame.model, _Turn(prompt, "", _words(prompt), None, limit))
            for prompt in prompts
            for _ in range(n)
        ]
        prompt_tokens = sum(_words(prompt) for prompt in prompts)
        if stream:
            return wire.completion_events(frame, replies, prompt_tokens)
        return wire.completion_body(frame, replies, prompt_tokens)

    def _responses(self, frame: wire.Frame, body: Body, stream: bool) -> _Rendered:
        # Only a directive calls a function on this API ("call tool" is not read here).
        reply = self._compose(
            frame.model, replace(_responses_turn(body, self.settings.scripts), tool_name=None)
        )
        _list(body, "tools")  # validates; the tools are echoed below, as the API does
        echo: wire.Json = {key: body[key] for key in _RESPONSE_ECHO if body.get(key) is not None}
        return (
            mock_responses.response_events(frame, reply, echo)
            if stream
            else mock_responses.response_body(frame, reply, echo)
        )

    def _messages(self, frame: wire.Frame, body: Body, stream: bool) -> _Rendered:
        reply = self._compose(frame.model, _messages_turn(body, self.settings.scripts))
        return wire.message_events(frame, reply) if stream else wire.message_body(frame, reply)

    def _embeddings(self, frame: wire.Frame, body: Body, stream: bool) -> _Rendered:
        inputs = _embedding_inputs(body)
        dimensions = _positive_int(body, "dimensions") or 8
        if dimensions > _MAX_DIMENSIONS:
            raise BadRequest(f"'dimensions' must be at most {_MAX_DIMENSIONS}", param="dimensions")
        as_base64 = body.get("encoding_format") == "base64"  # the openai SDK asks for it by default
        return wire.embedding_body(frame, inputs, dimensions, as_base64=as_base64)


def _scripted(script: Directive, turn: _Turn) -> wire.Reply:
    if script.tool_name is not None:
        tokens = _words(script.tool_arguments)
        return wire.Reply(
            "", "tool_calls", turn.prompt_tokens, tokens, script.tool_name, script.tool_arguments
        )
    text, cut = _truncate(script.text, turn.limit)
    return wire.Reply(text, "length" if cut else "stop", turn.prompt_tokens, _words(text))


def _parse_body(raw: bytes) -> Body:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("The request body is not valid JSON.", code="invalid_json") from exc
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    return body


def _model_name(body: Body) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("You must provide a model parameter.", code="missing_model", param="model")
    return model


def _error(
    status: int,
    message: str,
    code: str | None,
    anthropic: bool,
    *,
    param: str | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> UpstreamResponse:
    payload = wire.error_body(status, message, code, param, anthropic=anthropic)
    return UpstreamResponse(status, [*_JSON_HEADERS, *(headers or [])], body=orjson.dumps(payload))


# --- serving over HTTP -------------------------------------------------------------------------

Scope = Mapping[str, object]
Message = Mapping[str, object]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ASGIApp(Protocol):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


def mock_asgi_app(model: MockModel) -> ASGIApp:
    """A raw ASGI 3 app serving ``model`` over HTTP, streams sent event by event."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") == "lifespan":
            await _lifespan(receive, send)
            return
        if scope.get("type") != "http":
            return
        query = scope.get("query_string")
        suffix = "?" + query.decode("latin-1") if isinstance(query, bytes) and query else ""
        request = UpstreamRequest(
            method=str(scope.get("method", "GET")),
            url=f"http://mock{scope.get('path', '/')}{suffix}",
            headers=_scope_headers(scope),
            body=await _read_body(receive),
        )
        response = await model.handle(request)
        await _send_response(response, send)

    return app


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        kind = message.get("type")
        if kind == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif kind == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _scope_headers(scope: Scope) -> list[tuple[str, str]]:
    raw = scope.get("headers")
    pairs = raw if isinstance(raw, list | tuple) else []
    return [
        (pair[0].decode("latin-1"), pair[1].decode("latin-1"))
        for pair in pairs
        if isinstance(pair, list | tuple) and all(isinstance(part, bytes) for part in pair)
    ]


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            break
        body = message.get("body", b"")
        if isinstance(body, bytes):
            chunks.append(body)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def _send_response(response: UpstreamResponse, send: Send) -> None:
    headers = [(key.encode("latin-1"), value.encode("latin-1")) for key, value in response.headers]
    if response.stream is None:
        headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    if response.stream is None:
        await send({"type": "http.response.body", "body": response.body, "more_body": False})
        return
    async for event in response.stream:
        await send({"type": "http.response.body", "body": event, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
