"""Typed attachments: what one layer publishes on an exchange for the gateway and later layers.

A layer that learns something others need (authz: which models the caller may use) attaches
it under a typed key; readers (the router's fallbacks, ``GET /v1/models``) look it up by the
same key and get the type back, never a guessed attribute of an untyped object.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["MODEL_ACCESS", "Attachment", "ModelAccess"]

T = TypeVar("T")


class Attachment(Generic[T]):
    """A typed key for one kind of per-call data; compared by identity."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Attachment({self.name!r})"


@dataclass(frozen=True, slots=True)
class ModelAccess:
    """The model names this caller may use for this call's action (published by authz)."""

    matchers: tuple[re.Pattern[str], ...]

    def permits(self, model: str) -> bool:
        return any(matcher.match(model) is not None for matcher in self.matchers)

    def only_permitted(self, names: Iterable[str]) -> list[str]:
        return [name for name in names if self.permits(name)]


MODEL_ACCESS: Attachment[ModelAccess] = Attachment("model_access")
