"""Config of the ``input_guard`` layer: one action per detector, detector tuning, trust."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vallum.detectors.content import ContentConfig
from vallum.detectors.injection import InjectionConfig
from vallum.detectors.normalize import NormalizeConfig
from vallum.detectors.tiers import CascadesConfig
from vallum.pipeline.exchange import Source
from vallum.pipeline.layer import LayerConfig

__all__ = ["InputGuardConfig", "SpanAction", "VerdictAction"]

# A verdict on a whole text can only be acted on as a whole: no redaction.
VerdictAction = Literal["block", "refuse", "flag", "shadow", "off"]
# Secrets and PII have spans: they can be replaced before the upstream sees them.
SpanAction = Literal["block", "refuse", "redact", "pseudonymise", "flag", "shadow", "off"]


class InputGuardConfig(LayerConfig):
    """What the input guard checks and what it does with each kind of finding."""

    type: Literal["input_guard"] = "input_guard"
    injection: VerdictAction = Field("block", description="Action on a prompt injection.")
    injection_uncertain: VerdictAction = Field(
        "flag",
        description="Action on a text whose injection score is in the uncertain band "
        "(between the flag and block thresholds of its trust level).",
    )
    content: VerdictAction = Field("block", description="Action on a harmful request.")
    secrets: SpanAction = Field("block", description="Action on a secret in a prompt.")
    pii: SpanAction = Field("off", description="Action on personal data in a prompt.")
    refusal_message: str = Field(
        "I can't help with that request.",
        min_length=1,
        max_length=1000,
        description="Message of a `refuse` action (sent today as the 400's message).",
    )
    flag_header: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9-]+$",
        description="If set, `flag` findings add the response header "
        "`x-vallum-<flag_header>` naming the detectors.",
    )
    injection_config: InjectionConfig = Field(
        default_factory=InjectionConfig, description="Tiers and thresholds of the injection model."
    )
    content_config: ContentConfig = Field(
        default_factory=ContentConfig, description="Categories and threshold of the content policy."
    )
    normalize: NormalizeConfig = Field(
        default_factory=NormalizeConfig, description="Decoding caps of the normalizer."
    )
    content_sources: list[Source] = Field(
        default_factory=lambda: list(Source),
        max_length=8,
        description="Text sources the content policy reads (default: every source, since the "
        "client writes them all, system turns and replayed assistant turns included).",
    )
    span_sources: list[Source] = Field(
        default_factory=lambda: list(Source),
        max_length=8,
        description="Text sources scanned for secrets and PII (default: every source the "
        "client sends: system / developer turns, instructions, tool definitions, names).",
    )
    trust_system: bool = Field(
        True,
        description="Injection scanning trusts system / developer turns, Responses "
        "`instructions`, Anthropic `system` and tool definitions (the application writes "
        "them). Set false when clients are not your own applications: they are then scored "
        "as user turns.",
    )
    cascade: CascadesConfig = Field(
        default_factory=CascadesConfig,
        description="Later tiers (HTTP guards, models) consulted for the texts the fast "
        "injection or content detector is unsure of.",
    )
    offload_chars: int = Field(
        16384,
        ge=0,
        le=100_000_000,
        description="Requests with more text than this are scanned in a worker thread, "
        "off the event loop.",
    )
