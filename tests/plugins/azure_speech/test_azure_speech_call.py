"""A whole call through the session engine with stt "azure" and tts "azure": the runtime built
from runtime.toml text as in production, the real Speech SDK talking to the local fake service,
core's fake VAD and model (the model's words are scripted; the speech path is what is tested)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import artagent_azure_speech.hooks
import pytest
from _bus import wait_until
from artagent.config import parse_config
from artagent.events import AgentResponseGenerated
from artagent.hookspecs import hookimpl
from artagent.plugins import PluginHost
from artagent.providers import ProviderSpec
from artagent.runtime import Runtime
from artagent.session.playout import LoopClock
from artagent.testing import FakeChannel, FakeModel, FakeVAD
from fake_speech_service import FakeSpeechService

pytestmark = pytest.mark.timeout(60)
GREETING = "Contoso Insurance, hello."
ANSWER = "Your claim was approved yesterday."


class VadAndModel:
    @hookimpl
    def register_providers(self) -> list[ProviderSpec]:
        model = FakeModel(LoopClock(), [ANSWER], first_token_latency_s=0.02, inter_token_s=0.0)
        return [
            ProviderSpec("vad", "energy", lambda settings: FakeVAD()),
            ProviderSpec("model", "scripted", lambda settings: model),
        ]


async def test_a_caller_is_heard_and_answered_in_azure_voices(data_dir: Path) -> None:
    async with FakeSpeechService(phrases=["I am calling about my claim."]) as service:
        text = (
            f'[runtime]\ndata_dir = "{data_dir}"\n'
            f'[session]\nstt = "azure"\ntts = "azure"\ngreeting = "{GREETING}"\nfarewell = ""\n'
            "[session.speech]\nstop_ms = 200.0\n"
            f'[plugins.azure_speech]\nhost = "{service.host}"\nkey_env = "SPEECH_KEY"\n'
            'segmentation_silence_ms = 300\nvoice = "en-GB-SoniaNeural"\n'
        )
        loaded = parse_config(text, base_dir=data_dir, source="test.toml", environ={"SPEECH_KEY": "test-key"})
        host = PluginHost()
        host.register("azure_speech", artagent_azure_speech.hooks)
        host.register("speech", VadAndModel())
        runtime = Runtime(loaded, host=host, load_entry_points=False)
        async with runtime.running():
            channel = FakeChannel(LoopClock())
            call = asyncio.create_task(runtime.sessions.run("call-1", channel, channel_name="test"))
            await channel.silence(1.6)  # the greeting plays (1 s of audio)
            await channel.say(0.8)
            while not any("yesterday" in ssml for c in service.connections for ssml in c.ssml):
                await channel.silence(0.1)
            sent = -1
            while sent != len(channel.sent):  # until the answer has been played out
                sent = len(channel.sent)
                await channel.silence(0.3)
            channel.leave()
            await asyncio.wait_for(call, 20)
            assert await runtime.outbox.flush()
            entries = await runtime.redis.xrange(runtime.config.bus.stream)
    events = [json.loads(fields[b"event"]) for _, fields in entries]
    finals = [e for e in events if e["type"] == "transcription_received" and e["is_final"]]
    assert [(e["text"], e["language"]) for e in finals] == [("I am calling about my claim.", "en-US")]
    assert finals[0]["start_ms"] == pytest.approx(1600.0, abs=40)  # on the call's audio timeline
    replies = [e["text"] for e in events if e["type"] == AgentResponseGenerated.type_tag()]
    assert replies == [GREETING, ANSWER]
    spoken = [ssml for c in service.connections if c.kind == "tts" for ssml in c.ssml]
    assert spoken and all('<voice name="en-GB-SoniaNeural">' in ssml for ssml in spoken)
    said = " ".join(re.sub(r"<[^>]+>", "", ssml) for ssml in spoken)
    assert said.split() == f"{GREETING} {ANSWER}".split()  # clause by clause, in order
    audio_s = len(channel.sent) * 0.02  # the fake service speaks 40 ms per character
    assert audio_s == pytest.approx(sum(len(re.sub(r"<[^>]+>", "", x)) for x in spoken) * 0.04, abs=0.1)
    assert events[-1]["type"] == "call_ended"
    await wait_until(lambda: all(c.closed for c in service.connections), what="connections closed")
