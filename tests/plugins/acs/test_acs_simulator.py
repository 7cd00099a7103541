"""``artagent call``: a simulated phone call against a running server, through the ACS media
protocol, with the transcript printed and both sides saved."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import artagent_acs.hooks
import numpy as np
import pytest
from _acs_kit import DeskLine, build_runtime, serving
from artagent.config import LoadedConfig
from artagent.plugins import PluginHost
from artagent.runtime import Runtime
from artagent_acs.simulator.audio import CallerAudioError, synthesize
from artagent_acs.simulator.command import _utterances, _voice
from artagent_acs.simulator.phone import CallOptions, SimulatorError, place_call

Make = Callable[[int], Awaitable[bytes]]


def spoken(line: DeskLine, texts: list[str]) -> Callable[[], AsyncIterator[Make]]:
    async def utterances() -> AsyncIterator[Make]:
        for text in texts:

            async def make(rate: int, text: str = text) -> bytes:
                return await synthesize(line.tts, text, rate)

            yield make

    return utterances


async def test_a_call_from_utterances_prints_the_transcript_and_saves_both_sides(
    make_config: Callable[..., LoadedConfig], tmp_path: Path
) -> None:
    line = DeskLine(["good morning", "goodbye"])
    runtime = build_runtime(make_config, line)
    out = io.StringIO()
    async with serving(runtime) as base:
        options = CallOptions(url=base, callee="+18005550100", save=tmp_path / "rec")
        status = await place_call(options, runtime.catalogue, spoken(line, ["good morning", "goodbye"]), out)
    assert status == 0
    transcript = out.getvalue().splitlines()
    assert transcript == [
        "[desk] Hello, this is the test desk.",
        "[caller] good morning",
        "[desk] You said good morning.",
        "[caller] goodbye",
        "[desk] You said goodbye.",
        "-- call ended: caller_hangup",
    ]
    for name in ("caller.wav", "agent.wav"):
        with wave.open(str(tmp_path / "rec" / name)) as wav:
            assert wav.getframerate() == 16000 and wav.getnchannels() == 1
            assert wav.getnframes() > 16000, f"{name} holds the call"
    with wave.open(str(tmp_path / "rec" / "agent.wav")) as wav:
        agent = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    assert np.abs(agent).max() > 5000, "the agent's voice is in agent.wav"


async def test_json_events_and_interrupting_the_agent(make_config: Callable[..., LoadedConfig]) -> None:
    line = DeskLine(["tell me everything", "stop"])
    runtime = build_runtime(make_config, line, "[plugins.acs]\nsample_rate = 24000\n")
    out = io.StringIO()
    async with serving(runtime) as base:
        options = CallOptions(url=base, as_json=True, interrupt=True)
        utterances = spoken(line, ["tell me everything", "stop"])
        status = await place_call(options, runtime.catalogue, utterances, out)
    assert status == 0
    events = [json.loads(text) for text in out.getvalue().splitlines()]
    types = [e["type"] for e in events]
    assert types[0] == "call_started" and types[-1] == "call_ended"
    assert "playback_interrupted" in types, "the caller talked over the agent"
    assert {e["call_id"] for e in events} == {events[0]["call_id"]}


async def test_a_wav_file_is_the_callers_voice(
    make_config: Callable[..., LoadedConfig], tmp_path: Path
) -> None:
    wav_path = tmp_path / "caller.wav"
    t = np.arange(8000) / 8000
    stereo = np.stack([np.sin(2 * np.pi * 220 * t)] * 2, axis=1) * 10000
    with wave.open(str(wav_path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(stereo.astype("<i2").tobytes())
    line = DeskLine(["from the file"])
    runtime = build_runtime(make_config, line)
    out = io.StringIO()
    args = argparse.Namespace(wav=wav_path, say=None, script=None)
    async with serving(runtime) as base:
        status = await place_call(CallOptions(url=base), runtime.catalogue, _utterances(runtime, args), out)
    assert status == 0
    assert "[desk] You said from the file." in out.getvalue().splitlines()
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF nonsense")
    with pytest.raises(CallerAudioError, match="not a readable WAV file"):
        from artagent_acs.simulator.audio import read_wav

        read_wav(bad, 16000)


async def test_clear_errors_without_a_server_or_a_voice(make_config: Callable[..., LoadedConfig]) -> None:
    host = PluginHost()
    host.register("acs", artagent_acs.hooks)
    runtime = Runtime(make_config(), host=host, load_entry_points=False)
    with pytest.raises(
        CallerAudioError, match=r"Install a speech plugin .* or give the caller's audio with --wav"
    ):
        _voice(runtime)
    with pytest.raises(SimulatorError, match=r"no ARTAgent server at http://127\.0\.0\.1:9"):
        await place_call(CallOptions(url="http://127.0.0.1:9"), runtime.catalogue, spoken(DeskLine([]), []))


SERVER_PLUGIN = """
from artagent.hookspecs import hookimpl
from artagent.providers import ProviderSpec, TextDelta
from artagent.session.playout import LoopClock
from artagent.testing import FakeSTT, FakeTTS, FakeVAD

CLOCK = LoopClock()


class Echo:
    async def stream(self, request):
        last = [m for m in request.messages if m.role != "system"][-1]
        yield TextDelta(f"You said {last.content}.")


@hookimpl
def register_providers():
    return [
        ProviderSpec("vad", "fake", lambda s: FakeVAD()),
        ProviderSpec("stt", "fake", lambda s: FakeSTT(CLOCK, ["i would like a quote"], partial_every=0,
                                                      final_latency_s=0.05)),
        ProviderSpec("tts", "fake", lambda s: FakeTTS(CLOCK, seconds_per_char=0.02,
                                                      first_audio_latency_s=0.01)),
        ProviderSpec("model", "fake", lambda s: Echo()),
    ]
"""
READY = re.compile(r"ARTAgent is ready: (http://[\d.]+:\d+)/")


def test_artagent_call_against_artagent_serve(data_dir: Path, fake_distribution: Callable[..., Path]) -> None:
    site = fake_distribution("artagent-fakeline", {"fakeline": "artagent_fakeline"},
                             {"artagent_fakeline": SERVER_PLUGIN})  # fmt: skip
    config = data_dir / "runtime.toml"
    config.write_text(f'[runtime]\ndata_dir = "{data_dir / "state"}"\ndisable_plugins = ["insurance"]\n'
                      '[server]\nport = 0\n[session]\ngreeting = "Thanks for calling the quote line."\n'
                      'vad = "fake"\nstt = "fake"\ntts = "fake"\nmodel = "fake"\n'
                      '[session.turn]\nmin_delay_s = 0.2\n'
                      '[observability]\nlog_level = "WARNING"\n')  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(site)}
    artagent = str(Path(sys.executable).parent / "artagent")
    server = subprocess.Popen([artagent, "serve", "--config", str(config)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=env)  # fmt: skip
    try:
        assert server.stdout is not None
        url = next(m.group(1) for line in server.stdout if (m := READY.search(line)))
        done = subprocess.run([artagent, "call", "--config", str(config), "--url", url,
                               "--say", "I would like a quote", "--save", str(data_dir / "saved")],
                              capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
        typed = subprocess.run([artagent, "call", "--config", str(config), "--url", url],
                               input="I would like a quote\n/quit\n", capture_output=True, text=True,
                               env=env, timeout=60)  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert typed.returncode == 0, typed.stderr
    assert "[assistant] You said i would like a quote." in typed.stdout.splitlines()
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "[assistant] Thanks for calling the quote line.",
        "[caller] i would like a quote",
        "[assistant] You said i would like a quote.",
        "-- call ended: caller_hangup",
    ]
    assert (data_dir / "saved" / "agent.wav").stat().st_size > 32000
