"""``vallum audit spend``: what calls cost, per key, team or model, from the audit trail."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["SPEND_GROUPS", "spend_rows"]

SPEND_GROUPS = ("key", "team", "model")


def _group(data: dict[str, Any], by: str) -> str:
    identity = data.get("identity") or {}
    if by == "key":
        return str(identity.get("credential_id") or "-")
    if by == "team":
        return str(identity.get("team") or "-")
    return str(data.get("model") or "-")


def spend_rows(records: Iterable[dict[str, Any]], by: str) -> list[dict[str, Any]]:
    """One row per group, most spent first: calls, priced calls, tokens in / out, USD."""
    groups: dict[str, dict[str, Any]] = {}
    for data in records:
        if data.get("type") != "request":
            continue
        name = _group(data, by)
        row = groups.setdefault(
            name,
            {
                by: name,
                "calls": 0,
                "priced_calls": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "cost_usd": 0.0,
            },
        )
        row["calls"] += 1
        tokens = data.get("tokens") or {}
        row["input_tokens"] += int(tokens.get("in") or 0)
        row["output_tokens"] += int(tokens.get("out") or 0)
        cost = data.get("cost_usd")
        if isinstance(cost, int | float) and not isinstance(cost, bool):
            row["priced_calls"] += 1
            row["cost_usd"] += float(cost)
    rows = sorted(groups.values(), key=lambda r: (-r["cost_usd"], -r["calls"], r[by]))
    for row in rows:
        row["cost_usd"] = round(row["cost_usd"], 6)
    return rows
