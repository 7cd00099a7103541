"""Failures through the real openai client against the fake server: rate limits, server errors,
stalls, fallback models, a refused key, and never repeating what the caller already heard."""

from __future__ import annotations

import email.utils
import re
from collections.abc import Callable

import pytest
from _openai_kit import ask, collect
from artagent.providers import ModelUsage, TextDelta, ToolCallRequest
from artagent_openai.errors import ModelResponseError, ModelRouterError, NoModelAnsweredError
from artagent_openai.retry import retry_after_s
from artagent_openai.router import OpenAIRouter
from fakes.openai_script import ErrorReply, Reply, Stall, ToolCall
from fakes.openai_server import FakeOpenAIServer

MakeRouter = Callable[..., OpenAIRouter]


def texts(items: list[object]) -> str:
    return "".join(item.text for item in items if isinstance(item, TextDelta))


async def test_a_429_is_retried_after_its_retry_after(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(
        ErrorReply(429, "Rate limit reached", headers={"retry-after": "1"}), Reply(text="Here I am.")
    )
    items = await collect(make_router(max_retries=2), ask())

    assert texts(items) == "Here I am."
    limited, answered = openai_server.chat_requests
    assert answered.received_at - limited.received_at >= 0.9  # Retry-After won over the 10 ms backoff
    assert answered.body == limited.body


async def test_retry_after_ms_is_honoured_too(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(
        ErrorReply(429, headers={"retry-after-ms": "300", "retry-after": "9"}), Reply(text="Ok.")
    )
    items = await collect(make_router(), ask())
    limited, answered = openai_server.chat_requests
    assert texts(items) == "Ok." and 0.25 <= answered.received_at - limited.received_at < 5


async def test_a_retry_after_past_the_timeout_moves_on_to_the_fallback(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(ErrorReply(429, headers={"retry-after": "60"}), Reply(text="Fallback here."))
    items = await collect(make_router(fallback_models=["gpt-4o-mini"], timeout_s=5.0), ask())
    assert texts(items) == "Fallback here."
    assert [r.model for r in openai_server.chat_requests] == ["gpt-4o", "gpt-4o-mini"]
    assert items[-1] == ModelUsage(model="gpt-4o-mini", prompt_tokens=12, completion_tokens=5)


async def test_server_errors_are_retried_then_reported_clearly(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(*[ErrorReply(500, "The server had an error")] * 2, ErrorReply(503, "Overloaded"))
    with pytest.raises(NoModelAnsweredError) as raised:
        await collect(make_router(max_retries=2), ask())

    assert len(openai_server.chat_requests) == 3
    message = str(raised.value)
    assert message.startswith("model router 'test': no model answered: ")
    assert "gpt-4o: HTTP 500: The server had an error (attempt 1)" in message
    assert "gpt-4o: HTTP 503: Overloaded (attempt 3)" in message


async def test_a_stalled_model_times_out_and_the_fallback_answers(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(Stall(30), Reply(text="Sorry for the wait."))
    router = make_router(first_token_timeout_s=0.5, fallback_models=["gpt-4o-mini"])
    items = await collect(router, ask())

    assert texts(items) == "Sorry for the wait."
    assert items[-1] == ModelUsage(model="gpt-4o-mini", prompt_tokens=12, completion_tokens=5)
    stalled, answered = openai_server.chat_requests
    assert (stalled.model, answered.model) == ("gpt-4o", "gpt-4o-mini")
    assert await openai_server.wait_disconnected(stalled)


async def test_a_stream_that_stalls_before_its_first_token_also_falls_back(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(Reply(text="Never.", first_chunk_delay_s=30), Reply(text="Backup."))
    items = await collect(make_router(first_token_timeout_s=0.5, fallback_models=["backup"]), ask())
    assert texts(items) == "Backup." and isinstance(items[-1], ModelUsage) and items[-1].model == "backup"


async def test_every_model_timing_out_names_each_one(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(Stall(30), Stall(30))
    with pytest.raises(NoModelAnsweredError) as raised:
        await collect(make_router(first_token_timeout_s=0.3, fallback_models=["gpt-4o-mini"]), ask())
    first, second = raised.value.attempts
    waited = r"\(0\.3 s, waited \d\.\d s\) \(attempt 1\)"
    assert re.fullmatch(rf"gpt-4o: no first token within first_token_timeout_s {waited}", first)
    assert re.fullmatch(rf"gpt-4o-mini: no first token within first_token_timeout_s {waited}", second)


async def test_the_overall_timeout_bounds_all_attempts(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(Stall(30), Stall(30), Stall(30))
    router = make_router(first_token_timeout_s=0.6, timeout_s=1.0, fallback_models=["b", "c"])
    with pytest.raises(NoModelAnsweredError) as raised:
        await collect(router, ask())
    assert [r.model for r in openai_server.chat_requests] == ["gpt-4o", "b"]
    assert raised.value.attempts[-1] == "b: no answer within timeout_s (1 s) (attempt 1)"


async def test_a_model_that_does_not_exist_moves_on_without_retries(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(ErrorReply(404, "The model `gpt-5o` does not exist"), Reply(text="Hi."))
    items = await collect(make_router(model="gpt-5o", fallback_models=["gpt-4o"], max_retries=3), ask())
    assert texts(items) == "Hi."
    assert [r.model for r in openai_server.chat_requests] == ["gpt-5o", "gpt-4o"]


async def test_a_refused_key_stops_at_once_and_makes_the_router_unavailable(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    router = make_router(api_key="sk-wrong", fallback_models=["gpt-4o-mini"], max_retries=3)
    assert router.unavailable() is None
    with pytest.raises(NoModelAnsweredError, match="HTTP 401: Incorrect API key provided"):
        await collect(router, ask())
    assert len(openai_server.chat_requests) == 1  # neither retried nor passed to the fallback
    assert router.unavailable() == "the server refused the credentials: HTTP 401: Incorrect API key provided"
    with pytest.raises(ModelRouterError, match="is unavailable"):
        await collect(router, ask())
    assert len(openai_server.chat_requests) == 1


async def test_a_connection_dropped_before_any_token_is_retried(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(Reply(text="Lost.", drop_after=1), Reply(text="Found."))
    items = await collect(make_router(), ask())
    assert texts(items) == "Found." and len(openai_server.chat_requests) == 2


async def test_a_response_broken_after_text_is_not_repeated(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(
        Reply(text="Your claim number is", drop_after=3), Reply(text="Your claim number is 42.")
    )
    heard: list[str] = []
    with pytest.raises(ModelResponseError, match="model 'gpt-4o' broke off its answer"):
        async for item in make_router(fallback_models=["gpt-4o-mini"]).stream(ask()):
            if isinstance(item, TextDelta):
                heard.append(item.text)
    assert heard == ["Your", " claim"]
    assert len(openai_server.chat_requests) == 1  # no retry, no fallback: the caller heard "Your claim"


async def test_a_stall_in_the_middle_ends_the_reply_with_a_clear_error(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    openai_server.script(Reply(text="One two three four", stall_after=3))
    with pytest.raises(ModelResponseError, match="model 'gpt-4o' broke off its answer: request timed out"):
        await collect(make_router(first_token_timeout_s=0.5, fallback_models=["other"]), ask())
    assert len(openai_server.chat_requests) == 1


async def test_tool_arguments_that_are_not_json_are_retried_then_reported(
    openai_server: FakeOpenAIServer, make_router: MakeRouter
) -> None:
    broken = Reply(tool_calls=[ToolCall("lookup_policy", '{"policy": "P-1"')])
    openai_server.script(broken, Reply(tool_calls=[ToolCall("lookup_policy", {"policy": "P-1"})]))
    items = await collect(make_router(), ask())
    assert items[0] == ToolCallRequest(id="call_0", name="lookup_policy", arguments={"policy": "P-1"})

    openai_server.script(broken, broken)
    with pytest.raises(NoModelAnsweredError, match="arguments for tool 'lookup_policy' that are not JSON"):
        await collect(make_router(max_retries=1), ask())


def test_retry_after_is_read_as_seconds_milliseconds_or_an_http_date() -> None:
    now = 1_750_000_000.0
    date = email.utils.formatdate(now + 3, usegmt=True)
    assert retry_after_s({"retry-after": "2"}, now=now) == 2.0
    assert retry_after_s({"retry-after": date}, now=now) == 3.0
    assert retry_after_s({"retry-after-ms": "250", "retry-after": "9"}, now=now) == 0.25
    assert retry_after_s({"retry-after": "soon"}, now=now) is None
    assert retry_after_s({}, now=now) is None
