"""The test kit itself: virtual time that is exact and repeatable, fakes that keep their scripts.

Scenarios run through ``VirtualClock.run`` from plain test functions: the clock drives its own
event loop, so these tests are synchronous on purpose.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest
from artagent.events import AgentResponseGenerated, CallEnded, TranscriptionReceived
from artagent.providers import (
    AudioChunk,
    MediaChannel,
    ModelProvider,
    ModelRequest,
    STTProvider,
    STTStream,
    TextDelta,
    ToolCallRequest,
    Transcript,
    TTSProvider,
    TurnDetector,
    VADProvider,
    VADStream,
    VoiceSpec,
)
from artagent.session.engine import SessionSettings
from artagent.session.playout import Clock
from artagent.testing import (
    FRAME_BYTES,
    CallHarness,
    FakeChannel,
    FakeModel,
    FakeProviderError,
    FakeSTT,
    FakeTTS,
    FakeTurnDetector,
    FakeVAD,
    VirtualClock,
    VirtualTimeDeadlock,
    frame_rms,
    silence_frame,
    tone_frame,
)


def ms(seconds: float | None) -> float:
    assert seconds is not None
    return round(seconds * 1000, 6)


# -- virtual time ---------------------------------------------------------------------------
def _three_tickers() -> list[tuple[float, str]]:
    timeline: list[tuple[float, str]] = []
    with VirtualClock() as clock:

        async def tick(name: str, period: float, until: float) -> None:
            while clock.now() + period <= until + 1e-9:
                await clock.sleep(period)
                timeline.append((clock.now(), name))

        async def main() -> None:
            await asyncio.gather(tick("a", 0.010, 0.3), tick("b", 0.020, 0.3), tick("c", 0.030, 0.3))

        clock.run(main())
    return timeline


def test_concurrent_sleepers_record_the_same_timeline_on_every_run() -> None:
    first = _three_tickers()
    assert all(_three_tickers() == first for _ in range(5))  # bit for bit, order included
    assert [name for _, name in first].count("a") == 30
    assert [name for _, name in first].count("c") == 10
    at_60ms = sorted(name for t, name in first if round(t, 6) == 0.06)
    assert at_60ms == ["a", "b", "c"]
    times = [t for t, _ in first]
    assert times == sorted(times)  # observed in time order


MINUTE_ASKS = [f"Question number {n}." for n in range(1, 9)]
MINUTE_ANSWERS = [f"Here is answer number {n}." for n in range(1, 9)]


def _a_minute_long_call() -> tuple[CallHarness, float, float]:
    """A whole session for a minute of virtual time: the caller asks eight questions (2 s of
    speech each), the recogniser, the model and the synthesiser answer each, on the same clock;
    returns the harness and the wall and CPU time it took."""
    with VirtualClock() as clock:
        call = CallHarness.build(clock, MINUTE_ASKS, MINUTE_ANSWERS)

        async def caller() -> None:
            task = await call.start(SessionSettings(greeting="Hello, how can I help?"))
            await call.channel.silence(2.0)
            for _ in MINUTE_ASKS:
                await call.channel.say(2.0)
                await call.channel.silence(5.0)
            await call.channel.silence(2.0)
            call.channel.leave()
            await task

        wall, cpu = time.perf_counter(), time.thread_time()
        clock.run(caller())
        return call, time.perf_counter() - wall, time.thread_time() - cpu


def test_a_minute_long_call_runs_in_well_under_a_second() -> None:
    call, wall_s, cpu_s = _a_minute_long_call()
    ended = call.events[-1]
    assert isinstance(ended, CallEnded) and ended.duration_ms == pytest.approx(60_000)
    assert ended.turns == 8 and ended.reason == "caller_hangup"
    answers = [a.text for a in call.of(AgentResponseGenerated)]
    assert answers == ["Hello, how can I help?", *MINUTE_ANSWERS]
    assert [t.text for t in call.of(TranscriptionReceived)] == MINUTE_ASKS
    assert len(call.model.requests) == 8 and call.model.requests[-1].messages[-1].content == MINUTE_ASKS[-1]
    assert len(call.channel.sent) > 8 * 50  # every answer was played, frame by frame
    assert call.channel.inbound_frames == 3000
    assert cpu_s < 1.0 and wall_s < 5.0  # the CPU it needs; the wall time, whatever else runs here


def test_a_scripted_call_goes_the_same_way_every_time() -> None:
    first, *_ = _a_minute_long_call()
    again, *_ = _a_minute_long_call()
    assert [e.type_tag() for e in again.events] == [e.type_tag() for e in first.events]
    assert again.channel.sent_at == first.channel.sent_at
    latencies = [a.latency for a in first.of(AgentResponseGenerated)]
    assert [a.latency for a in again.of(AgentResponseGenerated)] == latencies


def test_a_cancelled_sleeper_leaves_the_heap() -> None:
    with VirtualClock() as clock:
        woke: list[str] = []

        async def sleeper(name: str, seconds: float) -> None:
            await clock.sleep(seconds)
            woke.append(name)

        async def main() -> float:
            long = asyncio.create_task(sleeper("long", 10.0))
            short = asyncio.create_task(sleeper("short", 2.0))
            await clock.sleep(1.0)
            long.cancel()
            await short
            with pytest.raises(asyncio.CancelledError):
                await long
            return clock.now()

        assert clock.run(main()) == 2.0  # ended with the short sleeper, not at 10
        assert woke == ["short"]


def test_time_never_goes_backwards() -> None:
    rng = random.Random(7)
    with VirtualClock() as clock:
        seen: list[float] = []

        async def wander() -> None:
            for _ in range(200):
                await clock.sleep(rng.choice([0.0, 0.001, 0.02, 0.3, -1.0]))
                seen.append(clock.now())

        async def main() -> None:
            await asyncio.gather(*(wander() for _ in range(8)))

        clock.run(main())
    assert len(seen) == 1600
    assert all(a <= b for a, b in itertools.pairwise(seen))


def test_sleep_zero_yields_without_moving_time_and_wakes_are_exact() -> None:
    with VirtualClock(start=100.0) as clock:
        order: list[str] = []

        async def other() -> None:
            order.append("other")

        async def main() -> tuple[float, float, float]:
            task = asyncio.create_task(other())
            await clock.sleep(0)
            assert task.done()
            order.append("main")
            at_zero = clock.now()
            await clock.sleep(0.25)
            after = clock.now()
            await clock.sleep_until(123.456)
            return at_zero, after, clock.now()

        assert clock.run(main()) == (100.0, 100.25, 123.456)
        assert order == ["other", "main"]


def test_asyncio_timeouts_run_on_virtual_time_too() -> None:
    with VirtualClock() as clock:

        async def main() -> float:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.Event().wait(), timeout=5.0)
            return clock.now()

        assert clock.run(main()) == 5.0


def test_settle_lets_every_task_react_before_time_moves() -> None:
    with VirtualClock() as clock:
        hops: asyncio.Queue[int] = asyncio.Queue()
        reached: list[tuple[int, float]] = []

        async def relay() -> None:
            while (n := await hops.get()) < 5:
                reached.append((n, clock.now()))
                hops.put_nowait(n + 1)

        async def main() -> None:
            task = asyncio.create_task(relay())
            await clock.sleep(1.0)
            hops.put_nowait(0)
            await clock.settle()
            assert reached == [(n, 1.0) for n in range(5)]
            task.cancel()

        clock.run(main())


def test_work_in_a_thread_takes_no_virtual_time() -> None:
    with VirtualClock() as clock:

        async def main() -> tuple[float, bool]:
            timer = asyncio.create_task(clock.sleep(0.001))
            await asyncio.to_thread(time.sleep, 0.02)
            return clock.now(), timer.done()

        assert clock.run(main()) == (0.0, False)


def test_a_deadlock_is_reported_with_the_blocked_tasks() -> None:
    with VirtualClock(deadlock_after_s=0.01) as clock:

        async def waits_forever() -> None:
            await asyncio.Event().wait()

        async def main() -> None:
            await asyncio.create_task(waits_forever(), name="stuck-helper")

        with pytest.raises(VirtualTimeDeadlock, match="stuck-helper"):
            clock.run(main())


def test_until_bounds_a_runaway_scenario_and_leftovers_are_cancelled() -> None:
    with VirtualClock() as clock:
        background: list[asyncio.Task[None]] = []

        async def forever() -> None:
            while True:
                await clock.sleep(1.0)

        async def main() -> None:
            background.append(asyncio.create_task(forever()))
            await forever()

        with pytest.raises(TimeoutError, match="virtual time 30 s"):
            clock.run(main(), until=30.0)
        assert clock.now() == 30.0
        assert background[0].cancelled()


async def test_the_clock_refuses_a_loop_that_is_not_its_own(virtual_clock: VirtualClock) -> None:
    with pytest.raises(RuntimeError, match="outside its own loop"):
        await virtual_clock.sleep(1.0)
    with pytest.raises(RuntimeError, match="from synchronous code"):
        virtual_clock.run(asyncio.sleep(0))


# -- the fakes ------------------------------------------------------------------------------
def test_every_fake_implements_its_protocol(virtual_clock: VirtualClock) -> None:
    clock: Clock = virtual_clock
    stt = FakeSTT(clock)
    assert isinstance(FakeVAD(), VADProvider)
    assert isinstance(FakeVAD().open(sample_rate=16_000), VADStream)
    assert isinstance(stt, STTProvider)
    assert isinstance(virtual_clock.run(stt.open(sample_rate=16_000)), STTStream)
    assert isinstance(FakeTTS(clock), TTSProvider)
    assert isinstance(FakeModel(clock), ModelProvider)
    assert isinstance(FakeChannel(clock), MediaChannel)
    assert isinstance(FakeTurnDetector(), TurnDetector)


def test_frames_are_20ms_of_16khz_pcm16() -> None:
    assert len(tone_frame()) == len(silence_frame()) == FRAME_BYTES == 640
    assert frame_rms(tone_frame(amplitude=0.3)) == pytest.approx(0.3 / 2**0.5, rel=0.02)  # 4.4 cycles
    assert frame_rms(silence_frame()) == 0.0


def test_vad_hears_tone_as_speech_unless_scripted(virtual_clock: VirtualClock) -> None:
    vad = FakeVAD(script=[0.7], clock=virtual_clock, latency_s=0.005)
    stream = vad.open(sample_rate=16_000)

    async def main() -> list[float]:
        frames = [silence_frame(), tone_frame(), silence_frame(), tone_frame(amplitude=0.001)]
        return [await stream.speech_probability(frame) for frame in frames]

    assert virtual_clock.run(main()) == [0.7, 1.0, 0.0, 0.0]
    assert ms(virtual_clock.now()) == 20.0  # 4 frames x 5 ms of latency


def test_stt_partials_grow_and_the_final_follows_end_of_speech(virtual_clock: VirtualClock) -> None:
    stt = FakeSTT(virtual_clock, ["book a table", "for two"], partial_every=10, final_latency_s=0.25)

    async def main() -> list[tuple[float, Transcript]]:
        stream = await stt.open(sample_rate=16_000, language="en")
        got: list[tuple[float, Transcript]] = []

        async def read() -> None:
            async for result in stream.results():
                got.append((virtual_clock.now(), result))

        reader = asyncio.create_task(read())
        for utterance_frames in (35, 12):
            for _ in range(utterance_frames):
                await virtual_clock.sleep(0.02)
                await stream.push(tone_frame())
            await stream.end_of_speech()
        await virtual_clock.sleep(1.0)
        await stream.close()
        await reader
        return got

    got = virtual_clock.run(main())
    texts = [(ms(t), r.text, r.is_final) for t, r in got]
    assert texts == [
        (200.0, "book", False),
        (400.0, "book a", False),
        (600.0, "book a table", False),
        (900.0, "for", False),  # 10 frames into the second utterance
        (950.0, "book a table", True),  # 35 frames end at 700 ms, the final 250 ms later
        (940.0 + 250, "for two", True),
    ]
    final = got[4][1]
    assert (final.start_ms, final.end_ms, final.language, final.confidence) == (0.0, 700.0, "en", 1.0)
    assert (got[5][1].start_ms, got[5][1].end_ms) == (700.0, 940.0)
    assert len(stt.streams[0].received) == 47
    assert [ms(t) for t in stt.streams[0].end_of_speech_at] == [700.0, 940.0]


def test_stt_fails_mid_turn_when_scripted(virtual_clock: VirtualClock) -> None:
    stt = FakeSTT(virtual_clock, ["hello there"], partial_every=1, fail_on=0)

    async def main() -> list[str]:
        stream = await stt.open(sample_rate=16_000)
        for _ in range(3):
            await stream.push(tone_frame())
        await stream.end_of_speech()
        seen: list[str] = []
        with pytest.raises(FakeProviderError, match="utterance 0"):
            async for result in stream.results():
                seen.append(result.text)
        return seen

    assert virtual_clock.run(main()) == ["hello", "hello there"]
    assert ms(virtual_clock.now()) == 200.0


async def _collect(chunks: AsyncIterator[Any], clock: VirtualClock) -> list[tuple[float, Any]]:
    return [(clock.now(), chunk) async for chunk in chunks]


def test_tts_streams_audio_of_the_scripted_length_after_its_latency(virtual_clock: VirtualClock) -> None:
    tts = FakeTTS(virtual_clock, sample_rate=24_000, seconds_per_char=0.05, first_audio_latency_s=0.15)
    chunks: list[tuple[float, AudioChunk]] = virtual_clock.run(
        _collect(tts.synthesize("Hello"), virtual_clock)
    )
    assert [ms(t) for t, _ in chunks] == [150.0, 150.0, 150.0]
    assert [len(c.pcm) for _, c in chunks] == [4800, 4800, 2400]  # 250 ms at 24 kHz in 100 ms chunks
    assert {c.sample_rate for _, c in chunks} == {24_000}
    record = tts.syntheses[0]
    assert (record.text, record.audio_s, record.cancelled, tts.cancelled) == ("Hello", 0.25, False, 0)
    assert ms(record.first_audio_at) == 150.0
    fast = virtual_clock.run(_collect(tts.synthesize("Hello", voice=VoiceSpec(rate=2.0)), virtual_clock))
    assert sum(len(c.pcm) for _, c in fast) == 2 * 3000  # a voice at twice the rate: 125 ms


def test_tts_records_a_cancelled_synthesis(virtual_clock: VirtualClock) -> None:
    tts = FakeTTS(virtual_clock, seconds_per_word=1.0, chunk_interval_s=0.1)

    async def consume(text: str, n: int) -> None:
        async for _ in tts.synthesize(text):
            n -= 1
            if n == 0:
                await asyncio.Event().wait()  # stuck until barge-in cancels the turn

    async def main() -> None:
        turn = asyncio.create_task(consume("one two three", 2))
        await virtual_clock.sleep(0.5)
        turn.cancel()
        await asyncio.gather(turn, return_exceptions=True)
        await _collect(tts.synthesize("done"), virtual_clock)  # a full one is not counted
        iterator = tts.synthesize("four five")
        assert isinstance(await anext(iterator), AudioChunk)
        await iterator.aclose()

    virtual_clock.run(main())
    assert tts.cancelled == 2
    assert [s.cancelled for s in tts.syntheses] == [True, False, True]
    assert [round(s.audio_s, 3) for s in tts.syntheses] == [0.2, 1.0, 0.1]


def _request(*messages: str) -> ModelRequest:
    return ModelRequest(messages=list(messages))


def test_model_replies_in_order_with_exact_token_timing(virtual_clock: VirtualClock) -> None:
    lookup = ToolCallRequest(id="c1", name="lookup", arguments={"id": 7})
    model = FakeModel(
        virtual_clock,
        ["Hello there, friend.", [TextDelta("One"), lookup]],
        first_token_latency_s=0.3,
        inter_token_s=0.02,
    )

    async def main() -> list[list[tuple[float, Any]]]:
        first = await _collect(model.stream(_request("hi")), virtual_clock)
        second = await _collect(model.stream(_request("hi", "again")), virtual_clock)
        with pytest.raises(FakeProviderError, match="request #3"):
            await _collect(model.stream(_request("more")), virtual_clock)
        return [first, second]

    first, second = virtual_clock.run(main())
    assert [(ms(t), d.text) for t, d in first] == [(300.0, "Hello"), (320.0, " there,"), (340.0, " friend.")]
    assert [(ms(t), item) for t, item in second] == [(640.0, TextDelta("One")), (660.0, lookup)]
    assert [list(r.messages) for r in model.requests] == [["hi"], ["hi", "again"], ["more"]]
    assert ms(model.calls[1].first_token_at) == 640.0


def test_model_records_a_reply_cut_short_and_can_script_failures(virtual_clock: VirtualClock) -> None:
    def reply(request: ModelRequest) -> list[TextDelta | ToolCallRequest | BaseException]:
        if request.messages[-1] == "fail":
            return [TextDelta("Sorry"), FakeProviderError("overloaded")]
        return [TextDelta(word) for word in ("a", "b", "c", "d")]

    model = FakeModel(virtual_clock, reply, first_token_latency_s=0.1, inter_token_s=0.1)

    async def main() -> None:
        turn = asyncio.create_task(_collect(model.stream(_request("go")), virtual_clock))
        await virtual_clock.sleep(0.25)
        turn.cancel()  # barge-in
        await asyncio.gather(turn, return_exceptions=True)
        with pytest.raises(FakeProviderError, match="overloaded"):
            await _collect(model.stream(_request("fail")), virtual_clock)

    virtual_clock.run(main())
    cut, failed = model.calls
    assert (cut.cancelled, cut.items, ms(cut.ended_at)) == (True, [TextDelta("a"), TextDelta("b")], 250.0)
    assert (failed.cancelled, failed.items) == (False, [TextDelta("Sorry")])
    assert model.cancelled == 1


def test_channel_paces_the_caller_and_records_the_agent(virtual_clock: VirtualClock) -> None:
    channel = FakeChannel(virtual_clock)
    arrived: list[tuple[float, bool]] = []

    async def caller() -> None:
        await channel.say(0.1)
        await channel.silence(0.04)
        channel.leave()

    async def agent() -> None:
        async for frame in channel.frames():
            arrived.append((ms(virtual_clock.now()), frame_rms(frame) > 0))
        await channel.send(silence_frame())
        await channel.flush()
        await channel.hangup("done")
        await channel.hangup("again")

    async def main() -> None:
        await asyncio.gather(caller(), agent())
        with pytest.raises(ConnectionError, match="done"):
            await channel.send(silence_frame())

    virtual_clock.run(main())
    speech = [(20.0, True), (40.0, True), (60.0, True), (80.0, True), (100.0, True)]
    assert arrived == [*speech, (120.0, False), (140.0, False)]
    assert (channel.sent_at, channel.flushes, channel.hangup_reason) == ([0.14], [0.14], "done")
    assert channel.inbound_frames == 7


def test_channel_rejects_a_frame_of_the_wrong_size(fake_channel: FakeChannel) -> None:
    with pytest.raises(ValueError, match="640 bytes"):
        asyncio.run(fake_channel.send(b"\0" * 320))
    assert fake_channel.sent == []


def test_turn_detector_answers_per_transcript() -> None:
    detector = FakeTurnDetector(0.5, {"my number is": 1.5})
    assert detector.silence_needed_s("hello.") == 0.5
    assert detector.silence_needed_s("my number is") == 1.5
    assert detector.asked == ["hello.", "my number is"]


# -- the pytest plugin ----------------------------------------------------------------------
def test_the_plugin_is_registered_through_its_entry_point(pytestconfig: pytest.Config) -> None:
    plugin = pytestconfig.pluginmanager.get_plugin("artagent")
    assert isinstance(plugin, ModuleType)
    assert plugin.__name__ == "artagent.testing.plugin"


def test_the_fixtures_play_one_turn_on_one_clock(
    virtual_clock: VirtualClock,
    fake_channel: FakeChannel,
    fake_vad: FakeVAD,
    fake_stt: FakeSTT,
    fake_model: FakeModel,
    fake_tts: FakeTTS,
    fake_turn_detector: FakeTurnDetector,
) -> None:
    fake_stt.utterances = ["what time is it"]
    fake_model.responses = ["It is noon."]
    assert fake_stt.clock is fake_model.clock is fake_tts.clock is fake_channel.clock is virtual_clock

    async def caller() -> None:
        await fake_channel.say(1.0)
        await fake_channel.silence(3.0)
        fake_channel.leave()

    async def agent() -> float:
        vad = fake_vad.open(sample_rate=16_000)
        stt = await fake_stt.open(sample_rate=16_000)
        needed = round(fake_turn_detector.silence_needed_s("") / 0.02)
        silent, heard = 0, False
        async for frame in fake_channel.frames():
            await stt.push(frame)
            speech = await vad.speech_probability(frame) >= 0.5
            heard, silent = heard or speech, 0 if speech else silent + 1
            if heard and silent >= needed:
                break
        await stt.end_of_speech()
        final = await anext(_finals(stt))
        history = _request(final.text)
        text = "".join([d.text async for d in fake_model.stream(history) if isinstance(d, TextDelta)])
        async for chunk in fake_tts.synthesize(text):
            assert chunk.sample_rate == 16_000
        return virtual_clock.now()

    async def main() -> float:
        speaking = asyncio.create_task(caller())
        done = await agent()
        await speaking
        return done

    done = virtual_clock.run(main())
    # Speech ends at 1.0 s, the turn at 1.5 s; + 0.2 s final + 0.3 s first token + 2 x 0.02 s
    # tokens + 0.15 s first audio; the audio itself arrives at once.
    assert ms(done) == pytest.approx(1500 + 200 + 340 + 150)
    assert fake_model.requests[0].messages == ["what time is it"]
    assert ms(fake_tts.syntheses[0].audio_s) == pytest.approx(len("It is noon.") * 60)


async def _finals(stream: STTStream) -> AsyncIterator[Transcript]:
    async for result in stream.results():
        if result.is_final:
            yield result
            return
