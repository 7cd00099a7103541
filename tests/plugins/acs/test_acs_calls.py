"""Whole phone calls over a real media WebSocket: a simulated ACS media client on one side, the
running server (uvicorn on loopback) with the ACS plugin on the other."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator

import httpx
import pytest
import websockets
from _acs_kit import LONG_ANSWER, Collected, DeskLine, build_runtime, collected, serving, speech
from artagent.config import LoadedConfig
from artagent_acs.simulator.client import MediaClient


async def simulate(base: str, **body: object) -> dict[str, object]:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{base}/api/v1/acs/simulate", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_greeting_reply_and_caller_hangup(make_config: Callable[..., LoadedConfig]) -> None:
    line = DeskLine(["what time is it"])
    async with serving(build_runtime(make_config, line)) as base:
        call = await simulate(base, callee="+18005550100")
        phone = await MediaClient.open(str(call["media_url"]), sample_rate=16000)
        try:
            assert await phone.until_agent_done(timeout=10)
            said = [e["text"] for e in phone.events_of("agent_response_generated")]
            assert said == ["Hello, this is the test desk."]
            assert phone.heard_s() >= 0.4, "the greeting was heard"
            await phone.say(speech(0.6))
            assert await phone.wait_event("agent_response_generated", 2)
            assert await phone.until_agent_done()
            said = [e["text"] for e in phone.events_of("agent_response_generated")]
            assert said[-1] == "You said what time is it."
            await phone.hang_up()
            assert await phone.closed_within(5)
        finally:
            await phone.close()
        ended = phone.events_of("call_ended")
        assert [e["reason"] for e in ended] == ["caller_hangup"]
        assert phone.close_code == 1000


async def test_barge_in_during_a_long_answer_sends_stop_audio_and_the_agent_stops(
    make_config: Callable[..., LoadedConfig],
) -> None:
    line = DeskLine(["tell me everything", "thanks"])
    async with serving(build_runtime(make_config, line)) as base:
        call = await simulate(base)
        async with await MediaClient.open(str(call["media_url"]), sample_rate=16000) as phone:
            assert await phone.until_agent_done()
            await phone.say(speech(0.5))
            assert await phone.wait_for(lambda p: p.heard_s() > 1.7, timeout=10)
            heard_before = phone.heard_s()
            await phone.say(speech(0.5))  # the caller talks over the long answer
            assert await phone.wait_for(lambda p: bool(p.received.stop_audio), timeout=5)
            stopped_at = phone.received.stop_audio[0]
            assert await phone.wait_event("playback_interrupted")
            # After StopAudio the long answer sends nothing more: the caller's words are answered.
            assert await phone.wait_for(lambda p: _said(p)[-1:] == ["You said thanks."], timeout=10)
            answers = phone.events_of("agent_response_generated")
            interrupted = [a for a in answers if a["interrupted"]]
            assert len(interrupted) == 1 and 0 < len(interrupted[0]["text"]) < len(LONG_ANSWER)
            heard = phone.events_of("playback_interrupted")[0]["heard_ms"]
            assert 0 < heard < 20_000
            long_s = sum(s.audio_s for s in line.tts.syntheses if s.text.startswith("Our opening"))
            heard_s = phone.heard_s()
            assert heard_s < long_s / 2, "the rest of the long answer never reached the phone"
            assert heard_before > 0 and stopped_at > 0
            await phone.hang_up()
            assert await phone.closed_within(5)


def _said(phone: MediaClient) -> list[str]:
    return [e["text"] for e in phone.events_of("agent_response_generated")]


async def test_dtmf_keys_reach_the_agent_as_one_entry(make_config: Callable[..., LoadedConfig]) -> None:
    async with serving(build_runtime(make_config, DeskLine([]))) as base:
        call = await simulate(base)
        async with await MediaClient.open(str(call["media_url"]), sample_rate=16000) as phone:
            assert await phone.until_agent_done()
            await phone.dtmf("12")
            await phone.dtmf("34#", field_name="tone")  # both spellings of the digit's field
            assert await phone.wait_event("dtmf_received")
            assert await phone.wait_event("agent_response_generated", 2)
            assert [e["digits"] for e in phone.events_of("dtmf_received")] == ["1234"]
            keyed = [e for e in phone.events_of("transcription_received") if e["source"] == "dtmf"]
            assert [e["text"] for e in keyed] == ["1234"]
            assert phone.events_of("agent_response_generated")[-1]["text"] == "You said 1234."
            await phone.hang_up()


async def test_transfer_to_a_human(make_config: Callable[..., LoadedConfig]) -> None:
    toml = '[plugins.acs]\ntransfer_target = "+18005550123"\n'
    async with serving(build_runtime(make_config, DeskLine(["a person please"]), toml)) as base:
        call = await simulate(base)
        async with await MediaClient.open(str(call["media_url"]), sample_rate=16000) as phone:
            assert await phone.until_agent_done()
            await phone.say(speech(0.5))
            assert await phone.closed_within(10)
        assert [e["reason"] for e in phone.events_of("escalation_requested")] == [
            "the caller asked for a person"
        ]
        said = [e["text"] for e in phone.events_of("agent_response_generated")]
        assert said[-1] == "Let me put you through to a colleague."
        joined = phone.events_of("participant_joined")
        assert {"participant_id": "+18005550123", "role": "transfer_target"}.items() <= joined[-1].items()
        assert phone.events_of("call_ended")[0]["reason"] == "transferred"


async def test_a_failed_transfer_is_apologised_for_and_the_call_goes_on(
    make_config: Callable[..., LoadedConfig],
) -> None:
    # No transfer target is configured (and the agent named none): the call cannot be transferred.
    async with serving(build_runtime(make_config, DeskLine(["a person please", "ok"]))) as base:
        call = await simulate(base)
        async with await MediaClient.open(str(call["media_url"]), sample_rate=16000) as phone:
            assert await phone.until_agent_done()
            await phone.say(speech(0.5))
            assert await phone.wait_event("escalation_requested")
            assert await phone.wait_for(
                lambda p: any(
                    "could not transfer" in e["text"] for e in p.events_of("agent_response_generated")
                )
            )
            assert not phone.closed
            errors = phone.events_of("error_occurred")
            assert errors[0]["stage"] == "transfer" and "plugins.acs.transfer_target" in errors[0]["message"]
            await phone.hang_up()
            assert await phone.closed_within(5)
        assert phone.events_of("call_ended")[0]["reason"] == "caller_hangup"


async def test_the_caller_hanging_up_mid_sentence_ends_the_call(
    make_config: Callable[..., LoadedConfig],
) -> None:
    line = DeskLine(["tell me everything"])
    runtime = build_runtime(make_config, line)
    async with serving(runtime) as base:
        call = await simulate(base)
        phone = await MediaClient.open(str(call["media_url"]), sample_rate=16000)
        assert await phone.until_agent_done()
        await phone.say(speech(0.5))
        assert await phone.wait_for(lambda p: p.heard_s() > 1.8, timeout=10)
        await phone.drop()  # mid-sentence
        for _ in range(100):
            if call["call_id"] not in runtime.calls:
                break
            await asyncio.sleep(0.05)
        assert call["call_id"] not in runtime.calls, "the session ended"
        await runtime.outbox.flush()
        entries = await runtime.redis.xrange(runtime.config.bus.stream)
        events = [json.loads(fields[b"event"]) for _, fields in entries]
        mine = [e for e in events if e["call_id"] == call["call_id"]]
        assert mine[-1]["type"] == "call_ended" and mine[-1]["reason"] == "caller_hangup"
        assert not [e for e in mine if e["type"] == "error_occurred"]
        assert mine[-1]["duration_ms"] < 8_000, "the call ended when the caller left, not at the answer's end"


async def test_a_stream_that_goes_silent_ends_the_call_cleanly(
    make_config: Callable[..., LoadedConfig],
) -> None:
    runtime = build_runtime(make_config, DeskLine([]), "[plugins.acs]\nmedia_timeout_s = 0.6\n")
    async with serving(runtime) as base:
        call = await simulate(base)
        async with websockets.connect(str(call["media_url"])) as ws:  # connects, then never sends
            events = []
            async for message in ws:
                parsed = json.loads(message)
                if parsed["kind"] == "ArtAgentEvent":
                    events.append(parsed["event"])
            assert ws.close_code == 1000
        errors = [e for e in events if e["type"] == "error_occurred"]
        assert errors and errors[0]["kind"] == "MediaTimeout" and errors[0]["stage"] == "media"
        assert events[-1]["type"] == "call_ended"
        assert call["call_id"] not in runtime.calls
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(f"{base}/metrics")).text
        assert "artagent_acs_media_timeouts_total 1.0" in metrics


async def test_unmixed_audio_of_another_participant_does_not_reach_the_agent(
    make_config: Callable[..., LoadedConfig],
) -> None:
    runtime = build_runtime(make_config, DeskLine(["mine"]), '[plugins.acs]\naudio_channel = "unmixed"\n')
    async with serving(runtime) as base:
        call = await simulate(base)
        async with await MediaClient.open(str(call["media_url"]), sample_rate=16000) as phone:
            assert await phone.until_agent_done()
            other = MediaClient(phone.ws, sample_rate=16000, participant="8:acs:someone-else")
            for frame_start in range(0, 16000 * 2, 640):  # a second of loud speech from someone else
                await phone.ws.send(other._audio_message(speech(1.0)[frame_start : frame_start + 640]))
            await asyncio.sleep(1.0)
            assert not phone.events_of("speech_started"), "the other participant was not heard"
            await phone.say(speech(0.5))  # the caller's own words are
            assert await phone.wait_event("speech_started")
            assert await phone.wait_for(lambda p: _said(p)[-1:] == ["You said mine."])
            await phone.hang_up()


async def test_silent_frames_without_data_still_end_the_callers_turn(
    make_config: Callable[..., LoadedConfig],
) -> None:
    async with serving(build_runtime(make_config, DeskLine(["quiet please"]))) as base:
        call = await simulate(base)
        async with await MediaClient.open(str(call["media_url"]), sample_rate=16000) as phone:
            phone.silence_without_data = True
            assert await phone.until_agent_done()
            await phone.say(speech(0.5))
            assert await phone.wait_for(lambda p: _said(p)[-1:] == ["You said quiet please."])
            await phone.hang_up()


async def test_the_number_called_chooses_the_scenario(make_config: Callable[..., LoadedConfig]) -> None:
    async with serving(build_runtime(make_config, DeskLine([]))) as base:
        for number, greeting in (("+18005550199", "Night line, how can I help?"),
                                 ("+18005550100", "Hello, this is the test desk.")):  # fmt: skip
            call = await simulate(base, callee=number)
            async with await MediaClient.open(str(call["media_url"]), sample_rate=16000) as phone:
                assert await phone.until_agent_done()
                assert _said(phone) == [greeting]
                await phone.hang_up()
                assert await phone.closed_within(5)


async def test_dtmf_and_garbage_without_audio_do_not_keep_a_dead_stream_alive(
    make_config: Callable[..., LoadedConfig],
) -> None:
    runtime = build_runtime(make_config, DeskLine([]), "[plugins.acs]\nmedia_timeout_s = 0.8\n")
    async with serving(runtime) as base:
        call = await simulate(base)
        async with websockets.connect(str(call["media_url"])) as ws:  # never sends audio

            async def keep_sending() -> None:
                for n in range(200):
                    message = {"kind": "DtmfData", "dtmfData": {"data": "5"}} if n % 2 else {"kind": "?"}
                    await ws.send(json.dumps(message))
                    await asyncio.sleep(0.1)

            sender = asyncio.create_task(keep_sending())
            events = []
            started = asyncio.get_running_loop().time()
            try:
                async for message in ws:
                    parsed = json.loads(message)
                    if parsed["kind"] == "ArtAgentEvent":
                        events.append(parsed["event"])
            finally:
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)
            assert ws.close_code == 1000
        assert asyncio.get_running_loop().time() - started < 10, "ended by the media timeout"
        errors = [e for e in events if e["type"] == "error_occurred"]
        assert [e["kind"] for e in errors] == ["MediaTimeout"]
        assert "no audio" in errors[0]["message"]
        assert events[-1]["type"] == "call_ended"


@pytest.fixture
def channel_log() -> Iterator[Collected]:
    with collected("artagent_acs.channel") as handler:
        yield handler


async def test_unreadable_media_messages_are_logged_once_then_summed_up(
    make_config: Callable[..., LoadedConfig], channel_log: Collected
) -> None:
    async with serving(build_runtime(make_config, DeskLine(["still here"]))) as base:
        call = await simulate(base)
        async with await MediaClient.open(str(call["media_url"]), sample_rate=16000) as phone:
            assert await phone.until_agent_done()
            bad_audio = '{"kind": "AudioData", "audioData": {"data": 5}}'
            for garbage in ("not json", bad_audio, '{"kind": "Nope"}'):
                await phone.ws.send(garbage)
            await phone.ws.send(b"\x00\x01")
            await phone.say(speech(0.5))  # the call goes on as if nothing happened
            assert await phone.wait_for(lambda p: _said(p)[-1:] == ["You said still here."])
            mine = [m for m in channel_log.messages if call["call_id"] in m]
            assert len(mine) == 1 and "skipped a media message it cannot read (malformed)" in mine[0]
            await phone.hang_up()
            assert await phone.closed_within(5)
    mine = [m for m in channel_log.messages if call["call_id"] in m]
    assert len(mine) == 2 and "skipped 3 more media message(s)" in mine[1] and "(4 in all" in mine[1]
