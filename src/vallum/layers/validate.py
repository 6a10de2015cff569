"""``validate``: a strict schema per endpoint and bounds on every generation parameter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field

from vallum.pipeline.exchange import Endpoint, Exchange
from vallum.pipeline.layer import Deny, Layer, LayerConfig

__all__ = ["Validate", "ValidateConfig"]

Kind = Literal["int", "number", "bool", "str", "list", "dict", "str_or_list", "any"]


@dataclass(frozen=True, slots=True)
class _Rule:
    kind: Kind
    low: float | None = None
    high: float | None = None


_COMMON = {
    "model": _Rule("str"),
    "stream": _Rule("bool"),
    "stream_options": _Rule("dict"),
    "temperature": _Rule("number", 0, 2),
    "top_p": _Rule("number", 0, 1),
    "user": _Rule("str"),
    "metadata": _Rule("dict"),
    "tools": _Rule("list"),
    "tool_choice": _Rule("any"),
    "parallel_tool_calls": _Rule("bool"),
    "service_tier": _Rule("str"),
    "store": _Rule("bool"),
    "seed": _Rule("int"),
}
_OPENAI_SAMPLING = {
    "n": _Rule("int", 1, None),
    "stop": _Rule("str_or_list"),
    "presence_penalty": _Rule("number", -2, 2),
    "frequency_penalty": _Rule("number", -2, 2),
    "logit_bias": _Rule("dict"),
    "max_tokens": _Rule("int", 1, None),
}
_SCHEMAS: dict[Endpoint, dict[str, _Rule]] = {
    Endpoint.CHAT: {
        **_COMMON,
        **_OPENAI_SAMPLING,
        "messages": _Rule("list"),
        "max_completion_tokens": _Rule("int", 1, None),
        "logprobs": _Rule("bool"),
        "top_logprobs": _Rule("int", 0, 20),
        "response_format": _Rule("dict"),
        "modalities": _Rule("list"),
        "audio": _Rule("dict"),
        "prediction": _Rule("dict"),
        "reasoning_effort": _Rule("str"),
        "verbosity": _Rule("str"),
        "web_search_options": _Rule("dict"),
        "functions": _Rule("list"),
        "function_call": _Rule("any"),
        "safety_identifier": _Rule("str"),
        "prompt_cache_key": _Rule("str"),
    },
    Endpoint.COMPLETIONS: {
        **_COMMON,
        **_OPENAI_SAMPLING,
        "prompt": _Rule("any"),
        "suffix": _Rule("str"),
        "echo": _Rule("bool"),
        "best_of": _Rule("int", 1, 20),
        "logprobs": _Rule("int", 0, 5),
    },
    Endpoint.EMBEDDINGS: {
        "model": _Rule("str"),
        "input": _Rule("any"),
        "encoding_format": _Rule("str"),
        "dimensions": _Rule("int", 1, 65536),
        "user": _Rule("str"),
    },
    Endpoint.RESPONSES: {
        **_COMMON,
        "input": _Rule("any"),
        "instructions": _Rule("str"),
        "max_output_tokens": _Rule("int", 1, None),
        "top_logprobs": _Rule("int", 0, 20),
        "text": _Rule("dict"),
        "reasoning": _Rule("dict"),
        "previous_response_id": _Rule("str"),
        "truncation": _Rule("str"),
        "include": _Rule("list"),
        "background": _Rule("bool"),
        "max_tool_calls": _Rule("int", 1, None),
        "safety_identifier": _Rule("str"),
        "prompt_cache_key": _Rule("str"),
    },
    Endpoint.MESSAGES: {
        **_COMMON,
        "temperature": _Rule("number", 0, 1),
        "messages": _Rule("list"),
        "system": _Rule("any"),
        "max_tokens": _Rule("int", 1, None),
        "stop_sequences": _Rule("list"),
        "top_k": _Rule("int", 0, None),
        "thinking": _Rule("dict"),
        "container": _Rule("str"),
    },
}
_MAX_TOKEN_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "number": (int, float),
    "bool": (bool,),
    "str": (str,),
    "list": (list,),
    "dict": (dict,),
    "str_or_list": (str, list),
}


class ValidateConfig(LayerConfig):
    type: Literal["validate"] = "validate"
    reject_unknown_fields: bool = Field(
        True, description="Refuse top-level fields the endpoint does not define."
    )
    allow_fields: list[str] = Field(
        default_factory=list, max_length=64, description="Extra top-level fields to let through."
    )
    max_output_tokens: int = Field(
        32768, ge=1, le=10_000_000, description="Upper bound for max_tokens and its twins."
    )
    max_n: int = Field(8, ge=1, le=128, description="Most choices per request (n, best_of).")
    allow_logprobs: bool = Field(True, description="Whether logprobs may be requested at all.")
    max_stop: int = Field(4, ge=0, le=64, description="Most stop sequences.")
    max_tools: int = Field(128, ge=0, le=4096, description="Most tool definitions.")
    max_messages: int = Field(2048, ge=1, le=1_000_000, description="Most messages or inputs.")
    max_text_chars: int = Field(
        2_000_000, ge=1, le=100_000_000, description="Most characters of text in one request."
    )
    max_parts: int = Field(
        2048,
        ge=1,
        le=1_000_000,
        description="Most text parts in one request (each is scanned on its own, so the "
        "scanning cost grows with their number, not only their length).",
    )
    require_max_tokens: bool = Field(
        False, description="Refuse generation requests that do not bound their output."
    )


class Validate(Layer[ValidateConfig]):
    """Refuses malformed or out-of-bounds requests before any other work is spent on them."""

    name: ClassVar[str] = "validate"
    Config: ClassVar[type[LayerConfig]] = ValidateConfig

    async def on_request(self, exchange: Exchange) -> Deny | None:
        request = exchange.request
        if request is None:
            return None
        schema = _SCHEMAS.get(request.endpoint)
        if schema is None:
            return None
        return self._fields(request.body, schema) or self._bounds(exchange)

    def _fields(self, body: dict[str, Any], schema: dict[str, _Rule]) -> Deny | None:
        for key, value in body.items():
            rule = schema.get(key)
            if rule is None:
                if self.config.reject_unknown_fields and key not in self.config.allow_fields:
                    return _deny(
                        f"Unrecognized request argument supplied: {key}", "unknown_parameter", key
                    )
                continue
            if value is None or rule.kind == "any":
                continue
            problem = _check(rule, value)
            if problem is not None:
                return _deny(f"Invalid value for '{key}': {problem}.", "invalid_value", key)
        return None

    def _bounds(self, exchange: Exchange) -> Deny | None:
        config = self.config
        request = exchange.request
        assert request is not None  # noqa: S101 - checked by the caller
        body = request.body
        for key in _MAX_TOKEN_FIELDS:
            value = body.get(key)
            if isinstance(value, int) and value > config.max_output_tokens:
                return _deny(
                    f"'{key}' is larger than this gateway allows ({config.max_output_tokens}).",
                    "max_tokens_too_large",
                    key,
                )
        bounded = any(isinstance(body.get(key), int) for key in _MAX_TOKEN_FIELDS)
        generates = request.endpoint is not Endpoint.EMBEDDINGS
        if config.require_max_tokens and generates and not bounded:
            return _deny(
                "This gateway requires 'max_tokens'.", "missing_required_parameter", "max_tokens"
            )
        for key in ("n", "best_of"):
            value = body.get(key)
            if isinstance(value, int) and value > config.max_n:
                return _deny(f"'{key}' must be at most {config.max_n}.", "invalid_value", key)
        if not config.allow_logprobs and (body.get("logprobs") or body.get("top_logprobs")):
            return _deny(
                "logprobs are not allowed on this gateway.", "logprobs_not_allowed", "logprobs"
            )
        return self._sizes(exchange)

    def _sizes(self, exchange: Exchange) -> Deny | None:
        config = self.config
        request = exchange.request
        assert request is not None  # noqa: S101 - checked by the caller
        stop = request.body.get("stop", request.body.get("stop_sequences"))
        if isinstance(stop, list) and len(stop) > config.max_stop:
            return _deny(
                f"At most {config.max_stop} stop sequences are allowed.", "invalid_value", "stop"
            )
        if len(request.tools) > config.max_tools:
            return _deny(
                f"At most {config.max_tools} tools are allowed.", "too_many_tools", "tools"
            )
        if request.message_count > config.max_messages:
            return _deny(
                f"At most {config.max_messages} messages are allowed.",
                "too_many_messages",
                "messages",
            )
        if len(request.parts) > config.max_parts:
            return _deny(
                f"At most {config.max_parts} text parts are allowed.", "too_many_parts", None
            )
        if sum(len(part.text) for part in request.parts) > config.max_text_chars:
            return _deny("The request holds too much text.", "context_too_large", None)
        return None


def _check(rule: _Rule, value: Any) -> str | None:
    types = _TYPES[rule.kind]
    if isinstance(value, bool) and rule.kind != "bool":
        return f"expected {rule.kind}, got boolean"
    if not isinstance(value, types):
        return f"expected {rule.kind}"
    if rule.kind in ("int", "number") and isinstance(value, int | float):
        number = float(value)
        if rule.low is not None and number < rule.low:
            return f"must be at least {rule.low:g}"
        if rule.high is not None and number > rule.high:
            return f"must be at most {rule.high:g}"
    return None


def _deny(message: str, code: str, param: str | None) -> Deny:
    return Deny(status=400, code=code, message=message, param=param)
