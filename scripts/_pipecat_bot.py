"""The load benchmark's peer: a Pipecat bot answering the same simulated phone callers.

Runs in its own virtualenv (``.venv-pipecat``, ``pipecat-ai`` from PyPI, made by
scripts/_load_servers.py), one process per worker, every call of the worker in it, as Pipecat's
FastAPI WebSocket telephony examples serve calls. It speaks the ACS media protocol the callers
speak: ``POST /api/v1/acs/simulate`` hands out a media URL, the WebSocket carries ACS JSON
(``AudioData`` in and out, ``StopAudio`` on an interruption) through a Pipecat frame serializer.

The pipeline is Pipecat's own: its FastAPI WebSocket transport, its Silero VAD analyzer in the
user aggregator (``start_secs`` and ``stop_secs`` as ARTAgent's ``min_speech_ms`` and
``stop_ms``, ``confidence`` as its segmenter's threshold, 0.5, and no ``min_volume`` gate, as
ARTAgent has none), its interruption handling, a speech-timeout turn stop (the same 0.4 s of silence
as ARTAgent's turn detector, counted from the VAD's stop), and services with the benchmark's
fixed latencies and no CPU: an STT service that returns the text of the marked utterance it
heard ``--stt-final-s`` after the VAD stop, a model that answers each caller line with the
flows engine's reply to it ``--model-first-token-s`` later, and a TTS service giving
``--seconds-per-char`` of audio per character ``--tts-first-audio-s`` after each request. After
the goodbye the bot ends the call. ``/metrics`` reports what the benchmark reads from ARTAgent
(AudioData frames received, inbound lag by ACS timestamp, event loop lag) under the same names.

Usage: .venv-pipecat/bin/python scripts/_pipecat_bot.py --port P --script SCRIPT.json
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "loadbench" / "src"))

import uvicorn
from artagent_loadbench.script import MARK_BYTES, marker_table
from fastapi import FastAPI, WebSocket
from fastapi.responses import PlainTextResponse
from loguru import logger
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import (
    AudioRawFrame,
    EndTaskFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineParams, PipelineTask
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.serializers.base_serializer import FrameSerializer
from pipecat.services.settings import STTSettings, TTSSettings
from pipecat.services.stt_service import STTService
from pipecat.services.tts_service import TTSService
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

RATE = 16_000
STOP_AUDIO = '{"kind":"StopAudio","audioData":null,"stopAudio":{}}'
FRAMES = Counter("artagent_acs_media_messages", "Media messages received, by kind", ["kind"])
INBOUND_LAG = Histogram(
    "artagent_acs_inbound_lag_seconds",
    "Lateness of an AudioData frame by its ACS timestamp, against the call's promptest frame",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 1.0),
)
LOOP_LAG = Histogram(
    "artagent_event_loop_lag_seconds",
    "How late the event loop woke a sleeping task",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)


class AcsSerializer(FrameSerializer):
    """ACS media JSON <-> Pipecat frames: AudioData in (16 kHz PCM16), AudioData out, StopAudio
    on an interruption. Measures inbound lag one frame in 16, as ARTAgent's ACS channel does."""

    def __init__(self) -> None:
        super().__init__()
        self._count, self._best = 0, math.inf
        self._frames = FRAMES.labels("AudioData")

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if isinstance(frame, InterruptionFrame):
            return STOP_AUDIO
        if isinstance(frame, AudioRawFrame) and frame.audio:
            return (
                '{"kind":"AudioData","audioData":{"data":"' + base64.b64encode(frame.audio).decode() + '"}}'
            )
        return None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        message = json.loads(data)
        if message.get("kind") != "AudioData":
            return None
        audio = message["audioData"]
        self._frames.inc()
        self._lag(audio.get("timestamp"))
        return InputAudioRawFrame(audio=base64.b64decode(audio["data"]), sample_rate=RATE, num_channels=1)

    def _lag(self, stamp: str | None) -> None:
        self._count += 1
        if self._count < 16 or not stamp:
            return
        self._count = 0
        transit = time.time() - datetime.fromisoformat(stamp).timestamp()
        self._best = min(self._best, transit)
        INBOUND_LAG.observe(transit - self._best)


class ScriptedSTT(STTService):
    """The marked utterance heard last, as a final transcript ``latency`` after the VAD stop."""

    def __init__(self, texts: list[str], latency: float) -> None:
        super().__init__(
            sample_rate=RATE, ttfs_p99_latency=latency, settings=STTSettings(model=None, language=None)
        )
        self._texts, self._markers, self._latency = texts, marker_table(len(texts)), latency
        self._heard: int | None = None

    async def run_stt(self, audio: bytes):  # type: ignore[no-untyped-def]
        index = self._markers.get(audio[:MARK_BYTES])
        if index is not None:
            self._heard = index
        yield None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, VADUserStoppedSpeakingFrame) and self._heard is not None:
            text, self._heard = self._texts[self._heard], None
            self.create_task(self._final(text))

    async def _final(self, text: str) -> None:
        await asyncio.sleep(self._latency)
        stamp = datetime.now().isoformat()
        await self.push_frame(TranscriptionFrame(text, "", stamp, finalized=True))


class ScriptedLLM(FrameProcessor):
    """Answers a caller line with the flows engine's reply to it, ``latency`` after the turn."""

    def __init__(self, texts: list[str], replies: list[str], latency: float) -> None:
        super().__init__()
        self._answers = {text: replies[i + 1] for i, text in enumerate(texts)}
        self._last = texts[-1]
        self._latency = latency
        self._task: asyncio.Task[None] | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            said = [m for m in frame.context.get_messages() if m.get("role") == "user"]
            text = str(said[-1].get("content", "")) if said else ""
            self._cancel()
            self._task = self.create_task(self._answer(text))
            return
        if isinstance(frame, InterruptionFrame):
            self._cancel()
        await self.push_frame(frame, direction)

    def _cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def _answer(self, heard: str) -> None:
        await asyncio.sleep(self._latency)
        line = next((t for t in self._answers if t in heard), None)
        await self.push_frame(LLMFullResponseStartFrame())
        await self.push_frame(
            LLMTextFrame(self._answers[line] if line else "Sorry, could you say that again?")
        )
        await self.push_frame(LLMFullResponseEndFrame())
        if line == self._last:
            await self.push_frame(EndTaskFrame(), FrameDirection.UPSTREAM)


class FixedTTS(TTSService):
    """``seconds_per_char`` of a quiet tone per character, the first audio ``latency`` in."""

    def __init__(self, latency: float, seconds_per_char: float) -> None:
        super().__init__(
            sample_rate=RATE, push_start_frame=True, push_stop_frames=True,
            settings=TTSSettings(model=None, voice=None, language=None),
        )  # fmt: skip
        self._latency, self._per_char = latency, seconds_per_char
        self._chunk = (
            (1000).to_bytes(2, "little", signed=True) + (-1000).to_bytes(2, "little", signed=True)
        ) * 1600

    async def run_tts(self, text: str, context_id: str):  # type: ignore[no-untyped-def]
        await asyncio.sleep(self._latency)
        left = round(len(text) * self._per_char * RATE) * 2
        while left > 0:
            piece = self._chunk[: min(left, len(self._chunk))]
            left -= len(piece)
            yield TTSAudioRawFrame(piece, RATE, 1, context_id=context_id)


async def run_call(socket: WebSocket, args: argparse.Namespace, texts: list[str], replies: list[str]) -> None:
    transport = FastAPIWebsocketTransport(
        websocket=socket,
        params=FastAPIWebsocketParams(
            audio_in_enabled=True, audio_out_enabled=True, add_wav_header=False,
            audio_in_sample_rate=RATE, audio_out_sample_rate=RATE,
            audio_out_10ms_chunks=4,  # 40 ms per AudioData, as ARTAgent's send_ms (Pipecat's default)
            serializer=AcsSerializer(),
        ),
    )  # fmt: skip
    vad = SileroVADAnalyzer(
        params=VADParams(
            start_secs=args.start_secs, stop_secs=args.stop_secs,
            confidence=args.confidence, min_volume=args.min_volume,
        )
    )  # fmt: skip
    turns = UserTurnStrategies(
        stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=max(0.0, 0.4 - args.stop_secs))]
    )
    aggregators = LLMContextAggregatorPair(
        LLMContext(), user_params=LLMUserAggregatorParams(vad_analyzer=vad, user_turn_strategies=turns)
    )
    pipeline = Pipeline([
        transport.input(), ScriptedSTT(texts, args.stt_final_s), aggregators.user(),
        ScriptedLLM(texts, replies, args.model_first_token_s),
        FixedTTS(args.tts_first_audio_s, args.seconds_per_char), transport.output(), aggregators.assistant(),
    ])  # fmt: skip
    task = PipelineTask(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE),
        idle_timeout_secs=60,
    )

    @transport.event_handler("on_client_connected")
    async def greet(transport: object, client: object) -> None:
        await task.queue_frames([TTSSpeakFrame(replies[0])])

    @transport.event_handler("on_client_disconnected")
    async def gone(transport: object, client: object) -> None:
        await task.cancel()

    await PipelineRunner(handle_sigint=False).run(task)


async def loop_lag() -> None:
    loop = asyncio.get_running_loop()
    while True:
        deadline = loop.time() + 0.01
        await asyncio.sleep(0.01)
        LOOP_LAG.observe(max(0.0, loop.time() - deadline))


def build_app(args: argparse.Namespace) -> FastAPI:
    data = json.loads(Path(args.script).read_text(encoding="utf-8"))
    texts = [u["text"] for u in data["utterances"]]
    replies = list(data["replies"])
    app = FastAPI()

    @app.on_event("startup")
    async def start_sampler() -> None:
        app.state.sampler = asyncio.create_task(loop_lag())

    @app.get("/readiness")
    async def readiness() -> dict[str, bool]:
        return {"ready": True}

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/api/v1/acs/simulate", status_code=201)
    async def simulate() -> dict[str, object]:
        call_id = f"pipecat-{uuid.uuid4().hex[:12]}"
        return {"call_id": call_id, "media_url": f"ws://127.0.0.1:{args.port}/ws?call={call_id}",
                "sample_rate": RATE}  # fmt: skip

    @app.websocket("/ws")
    async def media(socket: WebSocket) -> None:
        await socket.accept()
        await run_call(socket, args, texts, replies)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--script", required=True)
    parser.add_argument("--stop-secs", type=float, default=0.24)
    parser.add_argument("--start-secs", type=float, default=0.06)
    # ARTAgent's segmenter threshold (the benchmark passes it) and no loudness gate, as ARTAgent
    # has none; Pipecat's defaults (0.7, and a smoothed volume of at least 0.6) start later.
    parser.add_argument("--confidence", type=float, default=0.5)
    parser.add_argument("--min-volume", type=float, default=0.0)
    parser.add_argument("--stt-final-s", type=float, default=0.3)
    parser.add_argument("--model-first-token-s", type=float, default=0.4)
    parser.add_argument("--tts-first-audio-s", type=float, default=0.15)
    parser.add_argument("--seconds-per-char", type=float, default=0.065)
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    uvicorn.run(build_app(args), host="127.0.0.1", port=args.port, log_level="warning", ws_max_size=1 << 20)


if __name__ == "__main__":
    main()
