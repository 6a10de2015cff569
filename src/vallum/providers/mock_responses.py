"""The mock model's OpenAI Responses API: one decided reply as a response body or its events.

A reply that calls a tool becomes a ``function_call`` output item, streamed as the API
streams it (``response.function_call_arguments.delta`` … ``.done``).
"""

from __future__ import annotations

from vallum.providers.mock_wire import Frame, Json, Reply, named_event, split_text

__all__ = ["response_body", "response_events"]


def _response(frame: Frame, echo: Json, output: list[Json], reply: Reply | None) -> Json:
    status = "in_progress"
    incomplete: Json | None = None
    usage: Json | None = None
    if reply is not None:
        status = "incomplete" if reply.finish == "length" else "completed"
        incomplete = {"reason": "max_output_tokens"} if reply.finish == "length" else None
        prompt, completion = reply.prompt_tokens, reply.completion_tokens
        usage = {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + completion,
        }
    return {
        "id": f"resp_mock_{frame.number}",
        "object": "response",
        "created_at": frame.created,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": incomplete,
        "instructions": None,
        "max_output_tokens": None,
        "model": frame.model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
        **echo,  # instructions, max_output_tokens, temperature, tools, top_p: as requested
    }


def _output_text(text: str) -> Json:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _output_message(frame: Frame, status: str, content: list[Json]) -> Json:
    item_id = f"msg_mock_{frame.number}"
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": content,
    }


def _function_call(frame: Frame, reply: Reply, arguments: str, status: str) -> Json:
    return {
        "type": "function_call",
        "id": f"fc_mock_{frame.number}",
        "call_id": f"call_mock_{frame.number}",
        "name": reply.tool_name,
        "arguments": arguments,
        "status": status,
    }


def _done_item(frame: Frame, reply: Reply) -> Json:
    if reply.tool_name is not None:
        return _function_call(frame, reply, reply.tool_arguments, "completed")
    return _output_message(frame, "completed", [_output_text(reply.text)])


def response_body(frame: Frame, reply: Reply, echo: Json) -> Json:
    return _response(frame, echo, [_done_item(frame, reply)], reply)


def _text_payloads(frame: Frame, reply: Reply) -> list[tuple[str, Json]]:
    at = {"item_id": f"msg_mock_{frame.number}", "output_index": 0, "content_index": 0}
    done_text = _output_text(reply.text)
    return [
        (
            "response.output_item.added",
            {"output_index": 0, "item": _output_message(frame, "in_progress", [])},
        ),
        ("response.content_part.added", {**at, "part": _output_text("")}),
        *(
            ("response.output_text.delta", {**at, "delta": piece, "logprobs": []})
            for piece in split_text(reply.text, frame.chunks)
        ),
        ("response.output_text.done", {**at, "text": reply.text, "logprobs": []}),
        ("response.content_part.done", {**at, "part": done_text}),
    ]


def _call_payloads(frame: Frame, reply: Reply) -> list[tuple[str, Json]]:
    at = {"item_id": f"fc_mock_{frame.number}", "output_index": 0}
    added = _function_call(frame, reply, "", "in_progress")
    return [
        ("response.output_item.added", {"output_index": 0, "item": added}),
        *(
            ("response.function_call_arguments.delta", {**at, "delta": piece})
            for piece in split_text(reply.tool_arguments, frame.chunks)
        ),
        ("response.function_call_arguments.done", {**at, "arguments": reply.tool_arguments}),
    ]


def response_events(frame: Frame, reply: Reply, echo: Json) -> list[bytes]:
    started = _response(frame, echo, [], None)
    done_item = _done_item(frame, reply)
    middle = (
        _text_payloads(frame, reply) if reply.tool_name is None else _call_payloads(frame, reply)
    )
    payloads: list[tuple[str, Json]] = [
        ("response.created", {"response": started}),
        ("response.in_progress", {"response": started}),
        *middle,
        ("response.output_item.done", {"output_index": 0, "item": done_item}),
    ]
    final = _response(frame, echo, [done_item], reply)
    last = "response.incomplete" if reply.finish == "length" else "response.completed"
    payloads.append((last, {"response": final}))
    return [
        named_event(name, {"type": name, "sequence_number": number, **payload})
        for number, (name, payload) in enumerate(payloads)
    ]
