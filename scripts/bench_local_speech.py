"""Benchmark `local_speech`: the embedded speech providers on this machine, as calls use them.

The plugin's default providers (Silero VAD, faster-whisper tiny.en int8, Piper
en_US-joe-medium) with runtime.toml's default settings, driven the way the session engine
drives them. Caller audio is the 30 claims-call sentences of `scripts/_speech_corpus.py`,
spoken by Piper (1 to 6 s each).

- *Final transcript latency*: one call, its caller audio fed in real time (a 20 ms frame every
  20 ms) through the VAD and the engine's speech segmenter (default `[session.speech]`) into
  the recogniser, which gets `end_of_speech()` when the segmenter decides; measured from the
  end of the caller's speech (the last loud 10 ms of the sentence) to the final transcript,
  speculative transcription on.
- *Real-time factors*: compute seconds per second of audio, one utterance (STT) or one reply
  (TTS) at a time. *TTS first audio*: from `synthesize()` to the first chunk for the first
  clause of typical agent replies, as the engine's clause chunker cuts them.
- *Concurrent calls*: 1, 2, 4, ... calls at once, each a caller speaking sentences in real time
  and an agent reply synthesized after each final transcript (while the caller listens); the
  largest number for which the 95th percentile of the final transcripts' lag behind the end
  of speech stays within 1 s (0, with no lag figure, when one call alone lags more).
- *WER*: the 30 sentences (``--sentences``) in the Piper voice and in espeak-ng's robotic voice, transcribed
  back, numbers normalised (`normalize()` in the corpus module).

Run alone (prints the figures, writes nothing): ``.venv/bin/python scripts/bench_local_speech.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from _benchlib import Figure, percentile
from _speech_corpus import CLAIMS, EspeakVoice, word_error_rate
from artagent.audio import FRAME_BYTES, FrameSplitter
from artagent.session.responder import text_clauses
from artagent.session.turns import SegmenterSettings, SpeechSegmenter
from artagent.speech_text import normalize_for_speech
from artagent_local_speech.config import LocalSpeechConfig
from artagent_local_speech.providers import LocalSpeech
from prometheus_client import CollectorRegistry

TITLE = "Local speech: final transcript latency, TTS first audio, real-time factors, concurrent calls, WER"
ABOUT = __doc__.split("\n\n", 1)[1].split("\n\nRun alone", 1)[0]
FIGURES = {
    "stt_final_p50_ms": Figure(
        "ms", "Caller speech end to final transcript, median (1-6 s utterances)", "<= 350"
    ),
    "stt_final_p95_ms": Figure("ms", "Caller speech end to final transcript, 95th percentile"),
    "speculation_used_pct": Figure(
        "%", "Finals that were a speculative transcription started in the trailing quiet"
    ),
    "tts_first_audio_ms": Figure(
        "ms", "synthesize() to the first audio chunk of a reply's first clause, median", "<= 150"
    ),
    "tts_first_audio_p95_ms": Figure("ms", "The same, 95th percentile"),
    "stt_rtf": Figure("ratio", "STT compute seconds per second of caller audio, one utterance at a time"),
    "tts_rtf": Figure("ratio", "TTS compute seconds per second of speech, one reply at a time"),
    "max_calls": Figure(
        "calls", "Concurrent calls sustained with final transcripts lagging at most 1 s (p95)"
    ),
    "lag_p95_ms_at_max_calls": Figure(
        "ms", "95th percentile final transcript lag at max_calls (left out when max_calls is 0)"
    ),
    "wer_piper": Figure("ratio", "Word error rate, the 30 sentences in the Piper voice", "<= 0.10"),
    "wer_espeak": Figure("ratio", "Word error rate, the 30 sentences in espeak-ng's voice", "<= 0.20"),
}

RATE = 16_000
FRAME_S = 0.02
SILENCE = bytes(FRAME_BYTES)
REPLIES = (
    "Thank you, Sarah. I have opened a claim for the accident on March third.",
    "I am sorry to hear that. Was anyone hurt in the accident?",
    "Okay, I have your policy here. Your deductible is five hundred dollars.",
    "Got it. An adjuster will call you tomorrow between ten and two.",
    "Let me check that for you. Your rental car coverage is thirty days.",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--utterances", type=int, default=30, help="sentences timed for latency (default 30)")
    parser.add_argument(
        "--sentences", type=int, default=len(CLAIMS), help=f"sentences for WER (default all {len(CLAIMS)})"
    )
    parser.add_argument("--tts-rounds", type=int, default=4, help="times each reply is timed (default 4)")
    parser.add_argument("--levels", default="1,2,3,4,6,8,12", help="concurrent calls tried, in order")
    parser.add_argument(
        "--level-seconds", type=float, default=25.0, help="seconds each level runs (default 25)"
    )
    parser.add_argument("--lag-limit-ms", type=float, default=1000.0, help="p95 lag that ends the ramp")


def frames(pcm: bytes) -> list[bytes]:
    return FrameSplitter().feed(pcm + bytes((-len(pcm)) % FRAME_BYTES))


def speech_end_frame(pcm: bytes) -> int:
    """Index of the 20 ms frame holding the clip's last 10 ms within 50 dB of its loudest."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768
    blocks = samples[: samples.size // 160 * 160].reshape(-1, 160)
    level = 10 * np.log10(np.mean(blocks**2, axis=1) + 1e-12)
    return int(np.flatnonzero(level > level.max() - 50)[-1]) // 2


class Caller:
    """One call's inbound side fed in real time: VAD -> segmenter -> recogniser."""

    def __init__(self, speech: Kit) -> None:
        self.speech = speech
        self.vad = speech.vad.open(sample_rate=RATE)
        self.segmenter = SpeechSegmenter(SegmenterSettings())
        self.loop = asyncio.get_running_loop()
        self.start = self.loop.time()
        self.sent = 0
        self.finals: list[float] = []
        self.ends = 0
        self.last_end = 0.0
        """When the segmenter last ended speech (the caller's clock)."""

    async def open(self) -> None:
        self.stt = await self.speech.stt.open(sample_rate=RATE)
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for transcript in self.stt.results():
            if transcript.is_final:
                self.finals.append(self.loop.time())

    def due(self) -> float:
        """When the frame being sent is due: the caller's real-time clock."""
        return self.start + self.sent * FRAME_S

    async def send(self, frame: bytes) -> None:
        self.sent += 1
        await asyncio.sleep(max(0.0, self.due() - self.loop.time()))
        change = self.segmenter.update(await self.vad.speech_probability(frame))
        await self.stt.push(frame)
        if change == "speech_stopped":
            self.ends += 1
            self.last_end = self.due()
            await self.stt.end_of_speech()

    async def say(self, clip: bytes, *, max_wait_s: float = 6.0) -> float:
        """Say ``clip``, then stay quiet until its last final transcript (the segmenter may cut
        a sentence at a pause: every piece's final must be in); returns the lag in ms, infinite
        when the final has not come ``max_wait_s`` after the end of speech."""
        end = speech_end_frame(clip)
        spoken_end = 0.0
        for index, frame in enumerate(frames(clip)):
            await self.send(frame)
            if index == end:
                spoken_end = self.due()
        for _ in range(round(max_wait_s / FRAME_S)):
            if self.last_end >= spoken_end and self.ends == len(self.finals):
                return (self.finals[-1] - spoken_end) * 1000
            await self.send(SILENCE)
        return float("inf")  # no final in time: over any lag limit

    async def listen(self, seconds: float) -> None:
        for _ in range(round(seconds / FRAME_S)):
            await self.send(SILENCE)

    async def close(self) -> None:
        await self.stt.close()
        await self.reader


class Kit:
    def __init__(self) -> None:
        self.speech = LocalSpeech(LocalSpeechConfig(), CollectorRegistry())
        self.vad, self.stt, self.tts = self.speech.silero({}), self.speech.whisper({}), self.speech.piper({})

    async def synthesize(self, text: str) -> tuple[bytes, float | None, float]:
        """(audio, first chunk after s, total s)."""
        started = time.perf_counter()
        first = None
        pcm = bytearray()
        async for chunk in self.tts.synthesize(text):
            first = first if first is not None else time.perf_counter() - started
            pcm += chunk.pcm
        return bytes(pcm), first, time.perf_counter() - started


async def tts_figures(kit: Kit, rounds: int) -> dict[str, float]:
    firsts: list[float] = []
    compute = audio = 0.0
    for _ in range(rounds):
        for reply in REPLIES:
            first_clause = await anext(aiter(text_clauses(reply)))
            _, first, _ = await kit.synthesize(normalize_for_speech(first_clause))
            firsts.append((first or 0.0) * 1000)
            pcm, _, total = await kit.synthesize(normalize_for_speech(reply))
            compute, audio = compute + total, audio + len(pcm) / 2 / RATE
    return {
        "tts_first_audio_ms": round(percentile(firsts, 50), 1),
        "tts_first_audio_p95_ms": round(percentile(firsts, 95), 1),
        "tts_rtf": round(compute / audio, 4),
    }


async def recognise(kit: Kit, clip: bytes) -> str:
    stream = await kit.stt.open(sample_rate=RATE)
    for frame in [SILENCE] * 15 + frames(clip) + [SILENCE] * 15:
        await stream.push(frame)
    await stream.end_of_speech()
    text = (await anext(stream.results())).text
    await stream.close()
    return text


async def stt_figures(
    kit: Kit, said: Sequence[str], piper: Sequence[bytes], espeak: Sequence[bytes]
) -> dict[str, float]:
    engine, pool = kit.stt.engine, kit.stt.pool
    compute = 0.0
    for clip in piper:
        audio = np.frombuffer(clip, dtype="<i2").astype(np.float32) / 32768
        started = time.perf_counter()
        await pool.run(engine.transcribe, audio, "en")
        compute += time.perf_counter() - started
    seconds = sum(len(clip) / 2 / RATE for clip in piper)
    said_piper = [await recognise(kit, clip) for clip in piper]
    said_espeak = [await recognise(kit, clip) for clip in espeak]
    return {
        "stt_rtf": round(compute / seconds, 4),
        "wer_piper": round(word_error_rate(list(said), said_piper), 4),
        "wer_espeak": round(word_error_rate(list(said), said_espeak), 4),
    }


async def latency_figures(kit: Kit, clips: Sequence[bytes]) -> dict[str, float]:
    caller = Caller(kit)
    await caller.open()
    await caller.listen(0.5)
    lags = []
    for clip in clips:
        lags.append(await caller.say(clip))
        await caller.listen(0.6)
    await caller.close()
    if not all(math.isfinite(lag) for lag in lags):
        raise RuntimeError("one call alone: a final transcript did not come within 6 s of the speech end")
    used = caller.stt.speculations["used"]
    return {
        "stt_final_p50_ms": round(percentile(lags, 50), 1),
        "stt_final_p95_ms": round(percentile(lags, 95), 1),
        "speculation_used_pct": round(100 * used / max(1, caller.ends), 1),
    }


async def one_call(kit: Kit, clips: Sequence[bytes], until: float, lags: list[float], seed: int) -> None:
    rng = random.Random(seed)
    caller = Caller(kit)
    await caller.open()
    await caller.listen(rng.uniform(0.2, 2.0))  # calls do not start in step
    while caller.loop.time() < until:
        lags.append(await caller.say(rng.choice(clips)))
        reply = asyncio.create_task(kit.synthesize(normalize_for_speech(rng.choice(REPLIES))))
        await caller.listen(2.5)  # the caller listens to the agent
        await reply
    await caller.close()


async def capacity_figures(kit: Kit, clips: Sequence[bytes], args: argparse.Namespace) -> dict[str, float]:
    """The largest level whose lag p95 stays within the limit, and that p95. When not even the
    first level holds, ``max_calls`` is 0 and there is no lag to report at it: the figure is
    left out (JSON has no NaN)."""
    best: tuple[int, float] | None = None
    for calls in [int(n) for n in args.levels.split(",")]:
        lags: list[float] = []
        until = asyncio.get_running_loop().time() + args.level_seconds
        await asyncio.gather(*(one_call(kit, clips, until, lags, seed) for seed in range(calls)))
        p95 = percentile(lags, 95)
        print(
            f"   {calls:>3} calls: {len(lags)} finals, lag p50 {percentile(lags, 50):.0f} ms,"
            f" p95 {p95:.0f} ms"
        )
        if p95 > args.lag_limit_ms:
            break
        best = (calls, p95)
    if best is None:
        return {"max_calls": 0}
    return {"max_calls": best[0], "lag_p95_ms_at_max_calls": round(best[1], 1)}


async def measure(args: argparse.Namespace) -> dict[str, float]:
    kit = Kit()
    for provider in (kit.vad, kit.stt, kit.tts):
        await provider.warm_up()
    sentences = CLAIMS[: args.sentences]
    piper = [(await kit.synthesize(text))[0] for text in sentences]
    espeak_voice = EspeakVoice()
    espeak = [espeak_voice.say(text) for text in sentences]
    timed = [clip for clip in piper if 1.0 <= len(clip) / 2 / RATE <= 6.0][: args.utterances]
    figures: dict[str, float] = {}
    figures |= await tts_figures(kit, args.tts_rounds)
    figures |= await stt_figures(kit, sentences, piper, espeak)
    figures |= await latency_figures(kit, timed)
    figures |= await capacity_figures(kit, timed, args)
    return figures


def run(args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(measure(args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add_arguments(parser)
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
