"""One small adapter per guard service: the request it wants and how its answer reads.

Each adapter builds the JSON body for one text and turns the parsed answer into a
``TierVerdict``; an answer of the wrong shape raises ``UpstreamError`` (the tier's
``on_error`` then decides). Credentials go in headers only, never in a body or an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from vallum.detectors.base import Source
from vallum.detectors.cascade import TierVerdict
from vallum.detectors.http_guard.config import HttpGuardConfig
from vallum.errors import UpstreamError

__all__ = [
    "LLAMA_GUARD_CATEGORIES",
    "AzureContentSafety",
    "AzurePromptShields",
    "GuardAdapter",
    "Lakera",
    "LlamaGuard",
    "OpenAIModeration",
    "adapter_for",
]

# Llama Guard 3 / 4 hazard categories (the model card's S1-S14)
LLAMA_GUARD_CATEGORIES = {
    "S1": "violent_crimes",
    "S2": "non_violent_crimes",
    "S3": "sex_related_crimes",
    "S4": "child_sexual_exploitation",
    "S5": "defamation",
    "S6": "specialized_advice",
    "S7": "privacy",
    "S8": "intellectual_property",
    "S9": "indiscriminate_weapons",
    "S10": "hate",
    "S11": "suicide_self_harm",
    "S12": "sexual_content",
    "S13": "elections",
    "S14": "code_interpreter_abuse",
}
_UNTRUSTED = (Source.TOOL_RESULT, Source.DOCUMENT)


class GuardAdapter(Protocol):
    def target(self) -> str: ...

    def headers(self, credential: str | None) -> list[tuple[str, str]]: ...

    def body(self, text: str, source: Source) -> dict[str, Any]: ...

    def parse(self, data: Any, source: Source) -> TierVerdict: ...


def _malformed(api: str) -> UpstreamError:
    return UpstreamError(
        "The guard service sent an answer of an unknown shape.", context={"api": api}
    )


def _field(data: Any, key: str, api: str) -> Any:
    if not isinstance(data, Mapping) or key not in data:
        raise _malformed(api)
    return data[key]


def _bearer(credential: str | None) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {credential}")] if credential else []


class OpenAIModeration:
    """``POST /v1/moderations``: ``flagged``, or a category score at ``threshold``."""

    def __init__(self, config: HttpGuardConfig) -> None:
        self.config = config
        self.model = config.model or "omni-moderation-latest"

    def target(self) -> str:
        return self.config.url.rstrip("/") + "/v1/moderations"

    def headers(self, credential: str | None) -> list[tuple[str, str]]:
        return _bearer(credential)

    def body(self, text: str, source: Source) -> dict[str, Any]:
        return {"model": self.model, "input": text}

    def parse(self, data: Any, source: Source) -> TierVerdict:
        results = _field(data, "results", "openai_moderation")
        if not isinstance(results, list) or not results:
            raise _malformed("openai_moderation")
        first = results[0]
        scores = _field(first, "category_scores", "openai_moderation")
        if not isinstance(scores, Mapping):
            raise _malformed("openai_moderation")
        numeric = {str(k): float(v) for k, v in scores.items() if isinstance(v, int | float)}
        kind, score = max(numeric.items(), key=lambda item: item[1], default=("flagged", 0.0))
        if self.config.threshold is not None:
            flagged = score >= self.config.threshold
        else:
            flagged = bool(_field(first, "flagged", "openai_moderation"))
        return TierVerdict(flagged, score, kind.replace("/", "_").replace("-", "_"))


class LlamaGuard:
    """Llama Guard behind an OpenAI-compatible chat server: ``safe`` / ``unsafe\\nS1,S10``."""

    def __init__(self, config: HttpGuardConfig) -> None:
        self.config = config

    def target(self) -> str:
        return self.config.url.rstrip("/") + "/v1/chat/completions"

    def headers(self, credential: str | None) -> list[tuple[str, str]]:
        return _bearer(credential)

    def body(self, text: str, source: Source) -> dict[str, Any]:
        # the server's chat template wraps the turn in Llama Guard's own prompt
        return {
            "model": self.config.model,
            "messages": [{"role": "user", "content": text}],
            "max_tokens": 24,
            "temperature": 0,
        }

    def parse(self, data: Any, source: Source) -> TierVerdict:
        choices = _field(data, "choices", "llama_guard")
        if not isinstance(choices, list) or not choices:
            raise _malformed("llama_guard")
        content = _field(_field(choices[0], "message", "llama_guard"), "content", "llama_guard")
        if not isinstance(content, str):
            raise _malformed("llama_guard")
        lines = [line.strip() for line in content.strip().splitlines() if line.strip()]
        head = lines[0].lower() if lines else ""
        if head == "safe":
            return TierVerdict(False, 0.0, "safe")
        if head != "unsafe":
            raise _malformed("llama_guard")
        codes = [c.strip().upper() for c in lines[1].split(",")] if len(lines) > 1 else []
        names = [LLAMA_GUARD_CATEGORIES.get(code, code.lower()) for code in codes if code]
        return TierVerdict(True, 1.0, "+".join(names) or "unsafe")


class AzurePromptShields:
    """Azure AI Content Safety ``text:shieldPrompt``: user turns as the prompt, documents and
    tool results as documents."""

    def __init__(self, config: HttpGuardConfig) -> None:
        self.config = config

    def target(self) -> str:
        base = self.config.url.rstrip("/")
        return f"{base}/contentsafety/text:shieldPrompt?api-version={self.config.api_version}"

    def headers(self, credential: str | None) -> list[tuple[str, str]]:
        return [("ocp-apim-subscription-key", credential)] if credential else []

    def body(self, text: str, source: Source) -> dict[str, Any]:
        if source in _UNTRUSTED:
            return {"userPrompt": "", "documents": [text]}
        return {"userPrompt": text, "documents": []}

    def parse(self, data: Any, source: Source) -> TierVerdict:
        if source in _UNTRUSTED:
            found = _field(data, "documentsAnalysis", "azure_prompt_shields")
            if not isinstance(found, list) or not found:
                raise _malformed("azure_prompt_shields")
            attack = _field(found[0], "attackDetected", "azure_prompt_shields")
            kind = "document_attack"
        else:
            analysis = _field(data, "userPromptAnalysis", "azure_prompt_shields")
            attack = _field(analysis, "attackDetected", "azure_prompt_shields")
            kind = "user_prompt_attack"
        if not isinstance(attack, bool):
            raise _malformed("azure_prompt_shields")
        return TierVerdict(attack, 1.0 if attack else 0.0, kind)


class AzureContentSafety:
    """Azure AI Content Safety ``text:analyze``: the worst category's severity (0-7)."""

    def __init__(self, config: HttpGuardConfig) -> None:
        self.config = config

    def target(self) -> str:
        base = self.config.url.rstrip("/")
        return f"{base}/contentsafety/text:analyze?api-version={self.config.api_version}"

    def headers(self, credential: str | None) -> list[tuple[str, str]]:
        return [("ocp-apim-subscription-key", credential)] if credential else []

    def body(self, text: str, source: Source) -> dict[str, Any]:
        return {"text": text, "outputType": "FourSeverityLevels"}

    def parse(self, data: Any, source: Source) -> TierVerdict:
        found = _field(data, "categoriesAnalysis", "azure_content_safety")
        if not isinstance(found, list):
            raise _malformed("azure_content_safety")
        worst, severity = "none", 0
        for item in found:
            level = _field(item, "severity", "azure_content_safety")
            name = _field(item, "category", "azure_content_safety")
            if not isinstance(level, int) or not isinstance(name, str):
                raise _malformed("azure_content_safety")
            if level > severity:
                worst, severity = name.lower(), level
        flagged = severity >= self.config.min_severity and severity > 0
        return TierVerdict(flagged, severity / 7, worst)


class Lakera:
    """Lakera Guard ``POST /v2/guard``: ``flagged``, named by the detectors that fired."""

    def __init__(self, config: HttpGuardConfig) -> None:
        self.config = config

    def target(self) -> str:
        return self.config.url.rstrip("/") + "/v2/guard"

    def headers(self, credential: str | None) -> list[tuple[str, str]]:
        return _bearer(credential)

    def body(self, text: str, source: Source) -> dict[str, Any]:
        role = "assistant" if source is Source.ASSISTANT else "user"
        body: dict[str, Any] = {"messages": [{"role": role, "content": text}], "breakdown": True}
        if self.config.project_id is not None:
            body["project_id"] = self.config.project_id
        return body

    def parse(self, data: Any, source: Source) -> TierVerdict:
        flagged = _field(data, "flagged", "lakera")
        if not isinstance(flagged, bool):
            raise _malformed("lakera")
        breakdown = data.get("breakdown") if isinstance(data, Mapping) else None
        fired = sorted(
            {
                str(item.get("detector_type", "flagged")).replace("/", "_")
                for item in breakdown or []
                if isinstance(item, Mapping) and item.get("detected") is True
            }
        )
        return TierVerdict(flagged, 1.0 if flagged else 0.0, "+".join(fired) or "flagged")


_Adapter = OpenAIModeration | LlamaGuard | AzurePromptShields | AzureContentSafety | Lakera
_ADAPTERS: dict[str, type[_Adapter]] = {
    "openai_moderation": OpenAIModeration,
    "llama_guard": LlamaGuard,
    "azure_prompt_shields": AzurePromptShields,
    "azure_content_safety": AzureContentSafety,
    "lakera": Lakera,
}


def adapter_for(config: HttpGuardConfig) -> GuardAdapter:
    return _ADAPTERS[config.api](config)
