"""Evaluation examples from ``../shared/data``: JSONL rows or presidio-research JSON lists."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from vallum.errors import ConfigError

__all__ = ["Example", "GoldSpan", "load_examples"]


@dataclass(frozen=True, slots=True)
class GoldSpan:
    kind: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    text: str
    label: int
    spans: list[GoldSpan] = field(default_factory=list)


def load_examples(path: Path) -> list[Example]:
    """Read one file; understands both formats of the shared data README."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}") from exc
    try:
        if raw.lstrip()[:1] == b"[":
            rows: list[Any] = orjson.loads(raw)
        else:
            rows = [orjson.loads(line) for line in raw.splitlines() if line.strip()]
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not JSON / JSON Lines") from exc
    return list(_examples(rows, path.stem))


def _examples(rows: list[Any], stem: str) -> Iterator[Example]:
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            continue
        text = row.get("text", row.get("full_text"))
        if not isinstance(text, str):
            continue
        if "label" not in row and "spans" not in row:
            # without either, every row would count as benign and the scores look perfect
            raise ConfigError(f"{stem}: row {index + 1} has neither 'label' nor 'spans'")
        spans = [_span(s) for s in row.get("spans") or [] if isinstance(s, dict)]
        label = row.get("label", 1 if spans else 0)
        yield Example(str(row.get("id", f"{stem}-{index}")), text, int(float(label) >= 0.5), spans)


def _span(raw: dict[str, Any]) -> GoldSpan:
    start = raw.get("start", raw.get("start_position", 0))
    end = raw.get("end", raw.get("end_position", 0))
    return GoldSpan(str(raw.get("entity_type", "")), int(start), int(end))
