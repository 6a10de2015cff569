"""``Guard``: Vallum's input guard and output filter in-process, for applications that do not
run the proxy.

The guard runs the very layers the proxy runs (same detectors, cascade, actions and
redaction) on a chat request built from ``messages``, and on a completion's text.
Findings never hold the matched text (length and hash only).
"""

from __future__ import annotations

import asyncio
import copy
import secrets
import threading
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vallum.clock import SystemClock
from vallum.errors import ConfigError
from vallum.layers.input_guard import InputGuard, InputGuardConfig
from vallum.layers.output_filter import OutputFilter, OutputFilterConfig
from vallum.pipeline.exchange import Endpoint, Exchange, Finding, Source, TextPart, WireFormat
from vallum.pipeline.layer import Deny, LayerContext, ResponseView
from vallum.providers import anthropic, openai

__all__ = ["CompletionScan", "Guard", "GuardConfig", "PromptScan"]

T = TypeVar("T")
Message = Mapping[str, Any]


class GuardConfig(BaseModel):
    """The two layers a ``Guard`` runs, each configured as in a gateway's ``layers``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_guard: InputGuardConfig = Field(
        default_factory=InputGuardConfig, description="Checks on prompts (`scan_prompt`)."
    )
    output_filter: OutputFilterConfig = Field(
        default_factory=OutputFilterConfig,
        description="Checks on completions (`scan_completion`).",
    )


@dataclass(frozen=True, slots=True)
class PromptScan:
    """The verdict on a prompt: allowed or not, findings, and the messages as the model
    would get them (secrets and PII redacted or pseudonymised where the policy says so)."""

    allowed: bool
    code: str | None  # the stable error code of a block (`prompt_injection_detected` …)
    message: str | None  # a message safe to show the user
    findings: tuple[Finding, ...]
    messages: list[dict[str, Any]]
    # placeholder -> original, for restoring a completion; holds raw values, so never shown
    pseudonyms: Mapping[str, str] = field(default_factory=dict, repr=False)
    system: tuple[str, ...] = field(default=(), repr=False)  # for the leak check


@dataclass(frozen=True, slots=True)
class CompletionScan:
    """The verdict on a completion: allowed or not, findings, and the text as filtered."""

    allowed: bool
    code: str | None
    message: str | None
    findings: tuple[Finding, ...]
    text: str


class Guard:
    """Scan prompts and completions with Vallum's detectors, without the proxy.

    Build one per process (the detectors load their models once) and share it; calls
    are safe from many tasks. The ``a``-prefixed methods are the async originals; the
    plain ones run them to completion, on the guard's own event loop thread when a
    cascade tier needs one.
    """

    def __init__(self, config: GuardConfig | None = None) -> None:
        self.config = config or GuardConfig()
        context = LayerContext(clock=SystemClock())
        self.input_guard = InputGuard(self.config.input_guard, context)
        self.output_filter = OutputFilter(self.config.output_filter, context)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, source: str | Path | Mapping[str, Any] | None = None) -> Guard:
        """A guard from a mapping, or a YAML file, with ``input_guard`` / ``output_filter``
        keys, or a gateway config whose ``layers`` hold them."""
        raw: Any = source or {}
        where = "guard config"
        if isinstance(source, str | Path):
            where = str(source)
            try:
                raw = yaml.safe_load(Path(source).read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise ConfigError(f"{where}: cannot read the guard config") from exc
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where}: the guard config must be a mapping")
        if "layers" in raw:
            raw = _from_layers(raw["layers"], where)
        try:
            return cls(GuardConfig.model_validate(raw))
        except ValidationError as exc:
            first = exc.errors()[0]
            path = ".".join(str(step) for step in first["loc"])
            raise ConfigError(f"{where}: {path}: {first['msg']}") from exc

    async def ascan_prompt(
        self, messages: str | Sequence[Message], wire: Literal["openai", "anthropic"] = "openai"
    ) -> PromptScan:
        """Check a prompt: a user turn, or chat messages in the wire format's shape."""
        exchange = _exchange(messages, WireFormat(wire))
        deny = await self.input_guard.on_request(exchange)
        request = exchange.request
        body = request.body if request is not None else {}
        system = (
            tuple(p.text for p in request.parts if p.source is Source.SYSTEM) if request else ()
        )
        return PromptScan(
            deny is None,
            deny.code if deny else None,
            deny.message if deny else None,
            tuple(exchange.findings),
            list(body.get("messages", [])),
            dict(exchange.pseudonyms),
            system,
        )

    async def ascan_completion(self, text: str, prompt: PromptScan | None = None) -> CompletionScan:
        """Check a completion; with the ``prompt`` scan, pseudonyms are restored and the
        system prompt is guarded against leaks."""
        system = [{"role": "system", "content": s} for s in prompt.system] if prompt else []
        exchange = _exchange(system, WireFormat.OPENAI)
        if prompt is not None:
            exchange.pseudonyms.update(prompt.pseudonyms)
        part = TextPart(text, Source.ASSISTANT, ("text",))
        view = ResponseView(200, {"text": text}, [part])
        deny: Deny | None = await self.output_filter.on_response(exchange, view)
        final = view.body["text"] if view.body is not None else text
        return CompletionScan(
            deny is None,
            deny.code if deny else None,
            deny.message if deny else None,
            tuple(exchange.findings),
            final if deny is None else "",
        )

    def scan_prompt(
        self, messages: str | Sequence[Message], wire: Literal["openai", "anthropic"] = "openai"
    ) -> PromptScan:
        return self._run(self.ascan_prompt(messages, wire))

    def scan_completion(self, text: str, prompt: PromptScan | None = None) -> CompletionScan:
        return self._run(self.ascan_completion(text, prompt))

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if not self.input_guard.cascades:
            return asyncio.run(coroutine)
        # cascade tiers keep connections: one loop, on the guard's own thread, for all calls
        return asyncio.run_coroutine_threadsafe(coroutine, self._background()).result()

    def _background(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="vallum-guard", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    async def aclose(self) -> None:
        """Close the cascade tiers' connections."""
        await self.input_guard.stop()

    def close(self) -> None:
        """Close the tiers' connections and stop the guard's loop thread, if it has one."""
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            asyncio.run(self.aclose())
            return
        asyncio.run_coroutine_threadsafe(self.aclose(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def _from_layers(layers: Any, where: str) -> dict[str, Any]:
    if not isinstance(layers, list):
        raise ConfigError(f"{where}: layers must be a list")
    found: dict[str, Any] = {}
    for layer in layers:
        if isinstance(layer, Mapping) and layer.get("type") in ("input_guard", "output_filter"):
            found[str(layer["type"])] = dict(layer)
    return found


def _exchange(messages: str | Sequence[Message], wire: WireFormat) -> Exchange:
    """An exchange holding the request the proxy would have parsed from these messages."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    turns = copy.deepcopy([dict(m) for m in messages])  # redaction edits the copy only
    exchange = Exchange(
        request_id=f"guard_{secrets.token_hex(8)}",
        method="POST",
        path="/guard",
        client_ip="",
        headers={},
        started=0.0,
        wire=wire,
    )
    if not turns:
        return exchange
    body: dict[str, Any] = {"model": "guard", "messages": turns}
    if wire is WireFormat.ANTHROPIC:
        system = [t.get("content") for t in turns if t.get("role") == "system"]
        body["messages"] = [t for t in turns if t.get("role") != "system"]
        if system:
            body["system"] = "\n\n".join(str(text) for text in system)
        body["max_tokens"] = 1
        exchange.endpoint = Endpoint.MESSAGES
        exchange.request = anthropic.normalize_request(body)
    else:
        exchange.endpoint = Endpoint.CHAT
        exchange.request = openai.normalize_request(Endpoint.CHAT, body)
    return exchange
