"""Hand-written agent scenarios (tests/data/agent/scenarios.jsonl) as requests in each wire format.

Each scenario is one agent turn: a system prompt, the user's task, a tool call the agent
already made and its result. The result ends with a ``[[mock:run:NAME]]`` marker, so the
mock model (given ``SCRIPTS``) "complies" and emits the scenario's next tool call; the
marker carries no value, so every value the call uses comes from the scenario's own text.
``expect`` says whether a gateway that traces values to their source should hold the call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SCENARIOS", "SCRIPTS", "Scenario", "anthropic_body", "chat_body", "responses_body"]

_FILE = Path(__file__).resolve().parents[1] / "data" / "agent" / "scenarios.jsonl"
_TOOLS = ("read_inbox", "send_email")  # any names: the mock calls what the directive says


@dataclass(frozen=True)
class Scenario:
    id: str
    kind: str
    held: bool
    system: str
    user: str
    tool: str
    result: str
    call_name: str
    call_arguments: dict[str, Any]

    @property
    def script_name(self) -> str:
        return self.id.replace("-", "_")

    @property
    def directive(self) -> str:
        arguments = json.dumps(self.call_arguments, separators=(",", ":"))
        return f"[[mock:call:{self.call_name}:{arguments}]]"

    @property
    def tool_result(self) -> str:
        return f"{self.result}\n[[mock:run:{self.script_name}]]"


def _load() -> list[Scenario]:
    out = []
    for line in _FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        raw = json.loads(line)
        out.append(
            Scenario(
                raw["id"],
                raw["kind"],
                raw["expect"] == "held",
                raw["system"],
                raw["user"],
                raw["tool"],
                raw["result"],
                raw["call"]["name"],
                raw["call"]["arguments"],
            )
        )
    return out


SCENARIOS = _load()
SCRIPTS = {s.script_name: s.directive for s in SCENARIOS}  # MockSettings.scripts


def chat_body(s: Scenario, model: str, *, stream: bool = False) -> dict[str, Any]:
    call = {"id": "call_1", "type": "function", "function": {"name": s.tool, "arguments": "{}"}}
    return {
        "model": model,
        "stream": stream,
        "messages": [
            {"role": "system", "content": s.system},
            {"role": "user", "content": s.user},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": s.tool_result},
        ],
        "tools": [
            {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
            for n in _TOOLS
        ],
    }


def responses_body(s: Scenario, model: str, *, stream: bool = False) -> dict[str, Any]:
    return {
        "model": model,
        "stream": stream,
        "instructions": s.system,
        "input": [
            {"role": "user", "content": s.user},
            {"type": "function_call", "call_id": "call_1", "name": s.tool, "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": s.tool_result},
        ],
        "tools": [
            {"type": "function", "name": n, "parameters": {"type": "object"}} for n in _TOOLS
        ],
    }


def anthropic_body(s: Scenario, model: str, *, stream: bool = False) -> dict[str, Any]:
    use = {"type": "tool_use", "id": "toolu_1", "name": s.tool, "input": {}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": s.tool_result}
    return {
        "model": model,
        "max_tokens": 256,
        "stream": stream,
        "system": s.system,
        "messages": [
            {"role": "user", "content": s.user},
            {"role": "assistant", "content": [use]},
            {"role": "user", "content": [result]},
        ],
        "tools": [{"name": n, "input_schema": {"type": "object"}} for n in _TOOLS],
    }
