"""The agent scenarios sent through a gateway with the official SDKs, one runner per API.

Each runner sends one scenario and returns the arguments of the tool call the client
received ("" if none reached it), or raises the SDK's error for a blocked response.
"""

from __future__ import annotations

from collections.abc import Callable

import anthropic
import openai
import orjson

from tests.support.agent_scenarios import Scenario, anthropic_body, chat_body, responses_body

__all__ = ["RUNNERS", "Runner", "held"]


def _chat(url: str, s: Scenario, stream: bool) -> str:
    body = chat_body(s, "mock-fast")
    with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as client:
        kwargs = {k: body[k] for k in ("messages", "tools")}
        if not stream:
            reply = client.chat.completions.create(model="mock-fast", **kwargs)
            calls = reply.choices[0].message.tool_calls or []
            return "".join(c.function.arguments for c in calls if c.type == "function")
        arguments, finish = "", None
        for chunk in client.chat.completions.create(model="mock-fast", stream=True, **kwargs):
            for choice in chunk.choices:
                for call in choice.delta.tool_calls or []:
                    arguments += (call.function and call.function.arguments) or ""
                finish = choice.finish_reason or finish
        return arguments if finish == "tool_calls" else ""


def _responses(url: str, s: Scenario, stream: bool) -> str:
    body = responses_body(s, "mock-fast")
    with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as client:
        kwargs = {k: body[k] for k in ("instructions", "input", "tools")}
        if not stream:
            reply = client.responses.create(model="mock-fast", **kwargs)
            return "".join(i.arguments for i in reply.output if i.type == "function_call")
        arguments, completed = "", False
        for event in client.responses.create(model="mock-fast", stream=True, **kwargs):
            if event.type == "response.function_call_arguments.delta":
                arguments += event.delta
            completed = completed or event.type == "response.completed"
        return arguments if completed else ""


def _messages(url: str, s: Scenario, stream: bool) -> str:
    body = anthropic_body(s, "claude-agent")
    with anthropic.Anthropic(base_url=url, api_key="x", max_retries=0) as client:
        kwargs = {k: body[k] for k in ("system", "messages", "tools", "max_tokens")}
        if not stream:
            reply = client.messages.create(model="claude-agent", **kwargs)
            return "".join(
                orjson.dumps(b.input).decode() for b in reply.content if b.type == "tool_use"
            )
        arguments = ""
        with client.messages.stream(model="claude-agent", **kwargs) as events:
            for event in events:
                if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                    arguments += event.delta.partial_json
        return arguments


Runner = Callable[[str, Scenario, bool], str]
RUNNERS: dict[str, Runner] = {"chat": _chat, "responses": _responses, "messages": _messages}
_BLOCKED = (openai.BadRequestError, anthropic.BadRequestError, anthropic.APIStatusError)


def held(runner: Runner, url: str, s: Scenario, stream: bool) -> bool:
    """Whether the call of scenario ``s`` was kept from the client (blocked or withheld)."""
    try:
        arguments = runner(url, s, stream)
    except _BLOCKED as error:
        assert "tool_call_blocked" in str(error) or "blocked" in str(error)
        return True
    if arguments:
        assert orjson.loads(arguments) == s.call_arguments
    return not arguments
