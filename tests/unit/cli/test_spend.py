"""Spend out of the box: shipped dated prices, the spend report's arithmetic."""

from __future__ import annotations

import re

from vallum.cli.spend import spend_rows
from vallum.ratelimit.costs import PriceTable, shipped_prices


def test_shipped_prices_are_dated_and_cover_common_models() -> None:
    as_of, prices = shipped_prices()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", as_of)
    table = PriceTable(prices)
    for model in (
        "gpt-4o",
        "gpt-4o-mini-2024-07-18",
        "gpt-4.1-mini",
        "claude-sonnet-4-0",
        "text-embedding-3-small",
    ):
        assert table.find(model) is not None, model
    mini, full = table.find("gpt-4o-mini"), table.find("gpt-4o")
    assert mini is not None and full is not None and mini.input_per_million < full.input_per_million
    assert table.find("mock-echo") is None


def test_spend_rows_group_and_sum() -> None:
    def record(key: str, team: str | None, cost: float | None, tokens: tuple[int, int]) -> dict:
        return {
            "type": "request",
            "identity": {"credential_id": key, "team": team},
            "model": "gpt-4o",
            "tokens": {"in": tokens[0], "out": tokens[1]},
            "cost_usd": cost,
        }

    records = [
        record("a", "ml", 0.25, (100, 10)),
        record("a", "ml", 0.5, (200, 20)),
        record("b", None, None, (0, 0)),
        {"type": "checkpoint", "covers": 3},
    ]
    by_key = spend_rows(records, "key")
    assert by_key[0] == {
        "key": "a",
        "calls": 2,
        "priced_calls": 2,
        "input_tokens": 300,
        "output_tokens": 30,
        "cost_usd": 0.75,
    }
    assert by_key[1]["key"] == "b" and by_key[1]["priced_calls"] == 0
    assert [r["team"] for r in spend_rows(records, "team")] == ["ml", "-"]
