"""Logs correlated by call: two calls at once on one worker (the real launcher, a real Redis),
and every record made inside each (its tool, its model, its transcripts) names that call, its
agent, its turn and its trace; JSON lines or text; levels per logger; transcripts only when
asked for; no secret in a request line."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import pytest
from _launcher_kit import EventLog, Fakes, one_turn, session_config
from _tracing_kit import exporter, tracing
from artagent.bus.redis import EmbeddedRedis
from artagent.calls import ActiveCalls
from artagent.config import ObservabilityConfig
from artagent.observability.logs import TRANSCRIPTS, call_logging, configure_logging
from artagent.providers import ModelRequest, TextDelta, ToolCallRequest, ToolSpec
from artagent.session.launcher import SessionLauncher
from artagent.session.tools import CallControl, ToolResult
from artagent.testing import FakeChannel, FakeModel
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from redis.asyncio import Redis

__all__ = ["exporter"]  # the fixture

tool_log = logging.getLogger("test.tools")
model_log = logging.getLogger("test.model")


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every record as the server writes it, in JSON lines, transcripts included."""
    stream, root = io.StringIO(), logging.getLogger()
    level = root.level
    handler = configure_logging(
        ObservabilityConfig(log_format="json", log_level="INFO", log_transcripts=True), stream
    )
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)
    logging.getLogger(TRANSCRIPTS).setLevel(logging.NOTSET)


@pytest.fixture
async def redis(embedded_redis: EmbeddedRedis) -> AsyncIterator[Redis]:
    client = Redis.from_url(embedded_redis.url)
    yield client
    await client.aclose()


class LookupTools:
    """One tool that logs whose call it serves (from its CallControl, not from the context)."""

    def specs(self) -> Sequence[ToolSpec]:
        return [ToolSpec(name="lookup", description="Look it up", parameters={"type": "object"})]

    async def run(self, call: ToolCallRequest, control: CallControl) -> ToolResult:
        await asyncio.sleep(0.01)  # the other call runs meanwhile
        tool_log.info("lookup for %s", control.call_id)
        return ToolResult(content="found")


def answer(request: ModelRequest) -> list[Any]:
    """A tool call first, then an answer once the tool's result is in."""
    model_log.info("asked, %d messages", len(request.messages))
    if request.messages[-1].role == "tool":
        return [TextDelta("Here it is.")]
    return [ToolCallRequest(id="t1", name="lookup", arguments={})]


async def test_every_record_made_inside_a_call_names_that_call_its_agent_turn_and_trace(
    redis: Redis, captured: io.StringIO, exporter: InMemorySpanExporter
) -> None:
    fakes = Fakes(utterances=["Hello there."])
    fakes.model = FakeModel(fakes.clock, answer, first_token_latency_s=0.02, inter_token_s=0.0)
    log, calls = EventLog(), ActiveCalls()
    launcher = SessionLauncher(
        session_config(greeting=""), fakes.registry(), publisher=log, redis=redis, calls=calls,
        worker="w1", tracing=tracing(exporter),
    )  # fmt: skip

    async def call(call_id: str) -> None:
        channel = FakeChannel(fakes.clock)
        task = asyncio.create_task(launcher.run(call_id, channel, channel_name="test", tools=LookupTools()))
        await one_turn(channel, log, call_id)
        channel.leave()
        await task

    with call_logging("outside-both"):  # the calls' own context replaces it in their tasks
        await asyncio.gather(call("call-a"), call("call-b"))

    records = [json.loads(line) for line in captured.getvalue().splitlines()]
    traces = {
        (span.attributes or {})["artagent.call_id"]: f"{span.context.trace_id:032x}"
        for span in exporter.get_finished_spans()
        if span.name == "call"
    }
    tools = [r for r in records if r["logger"] == "test.tools"]
    assert sorted(r["message"] for r in tools) == ["lookup for call-a", "lookup for call-b"]
    assert all(r["message"] == f"lookup for {r['call_id']}" for r in tools)
    inside = [r for r in records if r["logger"] in ("test.tools", "test.model", TRANSCRIPTS)]
    assert {r["call_id"] for r in inside} == {"call-a", "call-b"}
    assert all(r["trace_id"] == traces[r["call_id"]] and len(r["span_id"]) == 16 for r in inside)
    assert all(r["agent"] == "assistant" and r["turn"] == 1 for r in inside)
    said = [(r["call_id"], r["message"]) for r in records if r["logger"] == TRANSCRIPTS]
    assert sorted(said) == [
        ("call-a", "assistant: Here it is."),
        ("call-a", "caller: Hello there."),
        ("call-b", "assistant: Here it is."),
        ("call-b", "caller: Hello there."),
    ]
    assert all(r["level"] == "DEBUG" for r in records if r["logger"] == TRANSCRIPTS)


def test_transcripts_stay_out_of_the_logs_unless_asked_for_whatever_the_levels() -> None:
    stream = io.StringIO()
    config = ObservabilityConfig(log_format="json", log_level="DEBUG", log_levels={TRANSCRIPTS: "DEBUG"})
    handler = configure_logging(config, stream)
    try:
        with call_logging("c1"):
            logging.getLogger(TRANSCRIPTS).debug("caller: my card number is 4111")
            logging.getLogger("artagent.session").debug("a turn")
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)
        logging.getLogger(TRANSCRIPTS).setLevel(logging.NOTSET)
    lines = stream.getvalue().splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["a turn"]


@pytest.fixture
def uvicorn_unconfigured() -> Iterator[None]:
    """uvicorn's loggers as `artagent serve` leaves them (an earlier test may have run uvicorn
    with its own logging configuration, whose "uvicorn" logger does not propagate)."""
    uvicorn = logging.getLogger("uvicorn")
    saved = uvicorn.propagate, uvicorn.handlers[:]
    uvicorn.propagate, uvicorn.handlers[:] = True, []
    yield
    uvicorn.propagate, uvicorn.handlers[:] = saved


@pytest.mark.usefixtures("uvicorn_unconfigured")
def test_text_lines_for_people_and_per_logger_levels() -> None:
    stream = io.StringIO()
    config = ObservabilityConfig(log_format="text", log_level="WARNING", log_levels={"artagent.bus": "DEBUG"})
    handler = configure_logging(config, stream)
    try:
        with call_logging("call-42", agent=lambda: "AuthAgent", turn=lambda: 3):
            logging.getLogger("artagent.bus.outbox").debug("spilled %d", 5)
        logging.getLogger("artagent.session").info("not shown")
        logging.getLogger("uvicorn.error").warning(
            '%s - "WebSocket %s" 403', "127.0.0.1:5", "/api/v1/acs/media?call=c1&token=eyJhbGciOi.x.y"
        )
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)
        logging.getLogger("artagent.bus").setLevel(logging.NOTSET)
        logging.getLogger(TRANSCRIPTS).setLevel(logging.NOTSET)
    first, second = stream.getvalue().splitlines()
    assert first.endswith(" DEBUG   artagent.bus.outbox [call-42 AuthAgent #3] spilled 5")
    assert "eyJhbGciOi" not in second
    assert second.endswith('uvicorn.error 127.0.0.1:5 - "WebSocket /api/v1/acs/media?call=c1&token=***" 403')


def test_auto_writes_json_lines_when_not_on_a_terminal() -> None:
    stream = io.StringIO()
    handler = configure_logging(ObservabilityConfig(), stream)
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("artagent.test").exception("it failed")
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)
        logging.getLogger(TRANSCRIPTS).setLevel(logging.NOTSET)
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert (record["level"], record["logger"], record["message"]) == ("ERROR", "artagent.test", "it failed")
    assert "ValueError: boom" in record["exception"]
    assert "call_id" not in record and "trace_id" not in record  # made outside any call
