"""What a server may put on the wire, sent byte for byte by the fake server and read by the router:
keep-alive comments, CRLF, data lines split over writes, chunks without choices, error events,
chunks that are not JSON, tool calls without an index, and the connection reused after ``[DONE]``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from _openai_kit import ask, collect
from artagent.providers import ModelUsage, TextDelta, ToolCallRequest
from artagent_openai.errors import ModelResponseError, NoModelAnsweredError
from artagent_openai.router import OpenAIRouter
from fakes.openai_script import RawStream, Reply
from fakes.openai_server import FakeOpenAIServer

MakeRouter = Callable[..., OpenAIRouter]


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **fields: Any) -> str:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return json.dumps({"id": "chatcmpl-raw", "object": "chat.completion.chunk", "choices": choices, **fields})


def event(payload: str, end: str = "\n") -> str:
    return f"data: {payload}{end}{end}"


def texts(items: list[object]) -> str:
    return "".join(item.text for item in items if isinstance(item, TextDelta))


USAGE = {"prompt_tokens": 30, "completion_tokens": 4, "total_tokens": 34}
DONE = event("[DONE]")


async def test_keep_alives_crlf_split_lines_and_a_usage_chunk_without_choices(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    hello = event(chunk({"content": "Hello"}), "\r\n")
    openai_server.script(
        RawStream(
            [
                ": keep-alive\r\n\r\n",
                hello[:17],  # a line cut in the middle, across two writes
                hello[17:] + ": ping\n\n",
                event(chunk({"content": " there."})) + event(chunk({}, "stop")),
                event(chunk(None, usage=USAGE)) + DONE,
            ],
            part_delay_s=0.02,
        )
    )
    items = await collect(make_router(), ask())
    assert items == [
        TextDelta("Hello"),
        TextDelta(" there."),
        ModelUsage(model="gpt-4o", prompt_tokens=30, completion_tokens=4),
    ]


async def test_a_chunk_in_several_data_lines_is_one_chunk(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(
        RawStream(['data: {"choices": [{"index": 0,\ndata: "delta": {"content": "Joined."}}]}\n\n', DONE])
    )
    assert texts(await collect(make_router(), ask())) == "Joined."


async def test_an_error_event_before_any_text_is_retried(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    overloaded = json.dumps({"error": {"message": "The server is overloaded", "type": "server_error"}})
    openai_server.script(
        RawStream([event(chunk({"role": "assistant"})), event(overloaded)]), Reply(text="Ok.")
    )
    items = await collect(make_router(), ask())
    assert texts(items) == "Ok." and len(openai_server.chat_requests) == 2


async def test_an_error_event_after_text_ends_the_reply_after_that_text(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    # In one write: the text before the error is handed over first, then the error ends the reply.
    overloaded = "event: error\n" + event(json.dumps({"error": {"message": "Overloaded mid-answer"}}))
    openai_server.script(RawStream([event(chunk({"content": "Your claim"})) + overloaded + DONE]))
    heard: list[str] = []
    with pytest.raises(ModelResponseError, match="broke off its answer: stream error: Overloaded mid-answer"):
        async for item in make_router(fallback_models=["gpt-4o-mini"]).stream(ask()):
            heard.append(item.text if isinstance(item, TextDelta) else repr(item))
    assert heard == ["Your claim"] and len(openai_server.chat_requests) == 1


async def test_an_error_event_without_an_error_object_still_counts(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(RawStream(["event: error\ndata: upstream timed out\n\n"]))
    with pytest.raises(NoModelAnsweredError, match="stream error: upstream timed out"):
        await collect(make_router(max_retries=0), ask())


async def test_a_chunk_that_is_not_json_is_retried_then_reported(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(*[RawStream([event("{not json"), DONE])] * 2)
    with pytest.raises(NoModelAnsweredError, match=r"stream error: unreadable chunk .*\{not json"):
        await collect(make_router(max_retries=1), ask())
    assert len(openai_server.chat_requests) == 2


async def test_everything_after_done_is_ignored(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(
        RawStream([event(chunk({"content": "Done."})) + DONE + event(chunk({"content": " Not this."}))])
    )
    items = await collect(make_router(), ask())
    assert texts(items) == "Done." and isinstance(items[-1], ModelUsage)


async def test_a_stream_that_ends_without_done_is_a_whole_reply(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(RawStream([event(chunk({"content": "Short."})), event(chunk({}, "stop"))]))
    assert texts(await collect(make_router(), ask())) == "Short."


async def test_tool_calls_without_an_index_count_by_their_place(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    calls = [
        {"id": "a", "function": {"name": "lookup_policy", "arguments": '{"policy": "P-1"}'}},
        {"id": "b", "function": {"name": "transfer_to_human", "arguments": ""}},
    ]
    openai_server.script(RawStream([event(chunk({"tool_calls": calls}, "tool_calls")), DONE]))
    items = await collect(make_router(), ask())
    assert items[:2] == [
        ToolCallRequest(id="a", name="lookup_policy", arguments={"policy": "P-1"}),
        ToolCallRequest(id="b", name="transfer_to_human", arguments={}),
    ]


async def test_the_connection_is_reused_after_done_and_not_after_a_barge_in(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(
        Reply(text="One."),
        Reply(text="Two."),
        Reply(text="Three and on", chunk_delay_s=0.2),
        Reply(text="Four."),
    )
    router = make_router()
    await collect(router, ask())
    await collect(router, ask())
    stream = router.stream(ask())
    assert await anext(stream) == TextDelta("Three")
    await stream.aclose()  # the caller interrupts: the connection is closed, not read to its end
    await collect(router, ask())
    one, two, three, four = (request.client for request in openai_server.chat_requests)
    assert one is not None and one == two == three
    assert four != three
