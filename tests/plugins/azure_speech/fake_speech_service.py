"""A local stand-in for Azure Speech that speaks its WebSocket protocol on loopback.

The real Speech SDK connects to it with ``SpeechConfig(host="ws://127.0.0.1:<port>")``, the way
it connects to a Speech container. It implements what the plugin uses of the protocol:

- recognition (``/speech/recognition/conversation/...``): it reads the ``speech.config`` and
  ``speech.context`` JSON messages and the binary ``audio`` messages (2-byte header length,
  headers, then PCM after a RIFF header); it finds utterances by energy and answers with
  ``turn.start``, ``speech.startDetected``, ``speech.hypothesis`` every few hundred ms of speech,
  ``speech.phrase`` (detailed format, with ``PrimaryLanguage`` when language identification is
  on) once the silence has lasted the segmentation timeout the client asked for, and
  ``speech.endDetected`` / ``turn.end`` when the client ends its audio;
- synthesis (``/cognitiveservices/websocket/v1``): for each ``ssml`` message it streams binary
  ``audio`` messages (40 ms of audio per spoken character, at the rate the ``synthesis.context``
  asks for) and then ``turn.end``;
- authentication: a handshake without the expected key or bearer token is refused with 401.

Every message received is recorded per connection, for tests to check what the SDK sent.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import struct
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

TICKS_PER_MS = 10_000
FRAME_MS = 20
RATES = {"raw-8khz": 8000, "raw-16khz": 16000, "raw-22050hz": 22050, "raw-24khz": 24000, "raw-48khz": 48000}


@dataclass
class Connection:
    """What one client connection sent."""

    path: str
    headers: dict[str, str]
    config: dict[str, Any] | None = None
    contexts: list[dict[str, Any]] = field(default_factory=list)
    ssml: list[str] = field(default_factory=list)
    audio_bytes: int = 0
    closed: bool = False
    """The connection has ended (the client hung up, or the fake dropped it)."""

    @property
    def kind(self) -> str:
        return "tts" if "/websocket/" in self.path else "stt"


def _text(path: str, request_id: str, body: dict[str, Any]) -> str:
    return (
        f"X-RequestId:{request_id}\r\nContent-Type:application/json; charset=utf-8\r\nPath:{path}\r\n\r\n"
        + json.dumps(body)
    )


def _binary(path: str, request_id: str, data: bytes) -> bytes:
    headers = f"X-RequestId:{request_id}\r\nPath:{path}\r\nContent-Type:audio/x-wav\r\n".encode()
    return struct.pack(">H", len(headers)) + headers + data


def _headers(block: str) -> dict[str, str]:
    pairs = (line.split(":", 1) for line in block.split("\r\n") if ":" in line)
    return {name.strip().lower(): value.strip() for name, value in pairs}


class _Utterances:
    """Energy-based utterance finding over 20 ms frames, on the stream's own timeline."""

    def __init__(self, silence_ms: int) -> None:
        self.silence_ms = silence_ms
        self.position_ms = 0
        self.start_ms: int | None = None
        self.last_voice_ms = 0
        self.spoken_ms = 0
        self._buffer = b""

    def frames(self, pcm: bytes) -> list[bool]:
        self._buffer += pcm
        size = 16 * FRAME_MS * 2
        voiced: list[bool] = []
        while len(self._buffer) >= size:
            frame, self._buffer = self._buffer[:size], self._buffer[size:]
            samples = np.frombuffer(frame, dtype="<i2").astype(np.float64)
            voiced.append(bool(np.sqrt(np.mean(samples**2)) > 500))
        return voiced


class FakeSpeechService:
    """Run with ``async with FakeSpeechService(phrases=[...]) as service``; ``service.host``."""

    def __init__(
        self,
        phrases: Sequence[str | tuple[str, str]] = (),
        *,
        key: str | None = "test-key",
        tokens: Sequence[str] = (),
        confidence: float = 0.91,
        chunk_delay_s: float = 0.01,
    ) -> None:
        self.phrases = list(phrases)
        """What each utterance is recognised as, in order: text, or (text, language)."""
        self.key = key
        self.tokens = list(tokens)
        self.confidence = confidence
        self.chunk_delay_s = chunk_delay_s
        self.connections: list[Connection] = []
        self.refuse_with: HTTPStatus | None = None
        """Refuse every handshake with this status (e.g. 429), whatever the credentials."""
        self.drop_after_ms: int | None = None
        """Close a recognition connection abruptly once this much audio has arrived on it."""
        self.then_refuse_with: HTTPStatus | None = None
        """After that drop, refuse new handshakes with this status (None: accept them again)."""
        self._said = 0
        self.finals_sent: list[float] = []
        """time.monotonic() when each final phrase was sent (for the benchmark's delays)."""
        self._logs: dict[int, Connection] = {}
        self._server: Server | None = None

    @property
    def host(self) -> str:
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def __aenter__(self) -> FakeSpeechService:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            subprotocols=["USP"],
            process_request=self._authenticate,  # type: ignore[list-item]
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def _authenticate(self, connection: ServerConnection, request: Request) -> Response | None:
        headers = {k.lower(): v for k, v in request.headers.raw_items()}
        log = Connection(path=request.path, headers=headers)
        self.connections.append(log)
        self._logs[id(connection)] = log
        if self.refuse_with is not None:
            return connection.respond(self.refuse_with, f"{self.refuse_with.phrase}\n")
        key_ok = self.key is None or headers.get("ocp-apim-subscription-key") == self.key
        bearer = headers.get("authorization", "").removeprefix("Bearer ")
        if key_ok or bearer in self.tokens:
            return None
        return connection.respond(HTTPStatus.UNAUTHORIZED, "Unauthorized\n")

    async def _handle(self, ws: ServerConnection) -> None:
        log = self._logs.pop(id(ws))
        try:
            if log.kind == "tts":
                await self._synthesis(ws, log)
            else:
                await self._recognition(ws, log)
        except ConnectionClosed:  # the client went away mid-message: that is its right
            pass
        log.closed = True

    # -- recognition ---------------------------------------------------------------------
    async def _recognition(self, ws: ServerConnection, log: Connection) -> None:
        request_id, turn = "", None
        async for message in ws:
            if isinstance(message, str):
                head, _, body = message.partition("\r\n\r\n")
                path = _headers(head).get("path")
                if path == "speech.config":
                    log.config = json.loads(body)
                elif path == "speech.context":
                    log.contexts.append(json.loads(body))
                continue
            size = struct.unpack(">H", message[:2])[0]
            headers, audio = _headers(message[2 : 2 + size].decode()), message[2 + size :]
            if turn is None or headers.get("x-requestid") != request_id:
                request_id, turn = (
                    headers.get("x-requestid", uuid.uuid4().hex),
                    _Utterances(self._silence_ms(log)),
                )
                await ws.send(_text("turn.start", request_id, {"context": {"serviceTag": uuid.uuid4().hex}}))
            if not audio:  # an empty audio message: the client's audio has ended
                await self._end_of_audio(ws, request_id, turn, log)
                turn = None
                continue
            if audio.startswith(b"RIFF"):  # the first message of a turn: the WAV header
                audio = audio[audio.index(b"data") + 8 :]
            log.audio_bytes += len(audio)
            if self.drop_after_ms is not None and log.audio_bytes >= self.drop_after_ms * 32:
                self.drop_after_ms, self.refuse_with = None, self.then_refuse_with
                await ws.close(1011, "internal error")
                return
            for voiced in turn.frames(audio):
                await self._frame(ws, request_id, turn, voiced, log)

    def _silence_ms(self, log: Connection) -> int:
        context = log.contexts[-1] if log.contexts else {}
        segmentation = context.get("phraseDetection", {}).get("CONVERSATION", {}).get("segmentation", {})
        return int(segmentation.get("segmentationSilenceTimeoutMs", 500))

    async def _frame(
        self, ws: ServerConnection, request_id: str, turn: _Utterances, voiced: bool, log: Connection
    ) -> None:
        turn.position_ms += FRAME_MS
        if voiced:
            if turn.start_ms is None:
                turn.start_ms, turn.spoken_ms = turn.position_ms - FRAME_MS, 0
                await ws.send(
                    _text("speech.startDetected", request_id, {"Offset": turn.start_ms * TICKS_PER_MS})
                )
            turn.last_voice_ms = turn.position_ms
            turn.spoken_ms += FRAME_MS
            if turn.spoken_ms % 200 == 0:
                await ws.send(_text("speech.hypothesis", request_id, self._hypothesis(turn, log)))
        elif turn.start_ms is not None and turn.position_ms - turn.last_voice_ms >= turn.silence_ms:
            await ws.send(_text("speech.phrase", request_id, self._phrase(turn, log)))
            self.finals_sent.append(time.monotonic())

    def _next_phrase(self) -> tuple[str, str | None]:
        entry = self.phrases[self._said] if self._said < len(self.phrases) else ""
        return (entry, None) if isinstance(entry, str) else (entry[0], entry[1])

    def _hypothesis(self, turn: _Utterances, log: Connection) -> dict[str, Any]:
        text, language = self._next_phrase()
        words = text.split()
        heard = " ".join(words[: max(1, turn.spoken_ms // 200)]).lower().strip(".,?!")
        body: dict[str, Any] = {"Text": heard, "Offset": (turn.start_ms or 0) * TICKS_PER_MS}
        body["Duration"] = (turn.last_voice_ms - (turn.start_ms or 0)) * TICKS_PER_MS
        return self._with_language(body, language, log)

    def _phrase(self, turn: _Utterances, log: Connection) -> dict[str, Any]:
        text, language = self._next_phrase()
        self._said += 1
        start = turn.start_ms or 0
        body: dict[str, Any] = {
            "RecognitionStatus": "Success" if text else "NoMatch",
            "Offset": start * TICKS_PER_MS,
            "Duration": (turn.last_voice_ms - start) * TICKS_PER_MS,
            "DisplayText": text,
            "NBest": [{"Confidence": self.confidence, "Lexical": text.lower(), "Display": text}],
        }
        turn.start_ms = None
        return self._with_language(body, language, log)

    def _with_language(self, body: dict[str, Any], language: str | None, log: Connection) -> dict[str, Any]:
        if any("languageId" in c for c in log.contexts):
            body["PrimaryLanguage"] = {"Language": language or "en-US", "Confidence": "High"}
        return body

    async def _end_of_audio(
        self, ws: ServerConnection, request_id: str, turn: _Utterances, log: Connection
    ) -> None:
        if turn.start_ms is not None:
            await ws.send(_text("speech.phrase", request_id, self._phrase(turn, log)))
        await ws.send(_text("speech.endDetected", request_id, {"Offset": turn.position_ms * TICKS_PER_MS}))
        await ws.send(_text("turn.end", request_id, {}))

    # -- synthesis -----------------------------------------------------------------------
    async def _synthesis(self, ws: ServerConnection, log: Connection) -> None:
        rate = 16000
        async for message in ws:
            if not isinstance(message, str):
                continue
            head, _, body = message.partition("\r\n\r\n")
            headers = _headers(head)
            if headers.get("path") == "speech.config":
                log.config = json.loads(body)
            elif headers.get("path") == "synthesis.context":
                context = json.loads(body)
                log.contexts.append(context)
                fmt = context["synthesis"]["audio"]["outputFormat"]
                rate = next((r for prefix, r in RATES.items() if fmt.startswith(prefix)), 16000)
            elif headers.get("path") == "ssml":
                log.ssml.append(body)
                await self._speak(ws, headers.get("x-requestid", ""), body, rate)

    async def _speak(self, ws: ServerConnection, request_id: str, ssml: str, rate: int) -> None:
        await ws.send(_text("turn.start", request_id, {"context": {"serviceTag": uuid.uuid4().hex}}))
        spoken = html.unescape(re.sub(r"<[^>]+>", "", ssml))
        samples = np.arange(len(spoken) * rate * 40 // 1000, dtype=np.int64)
        pcm = (((samples * 37) % 2000) - 1000).astype("<i2").tobytes()
        step = rate * 2 // 10  # 100 ms per message
        for start in range(0, len(pcm), step):
            await ws.send(_binary("audio", request_id, pcm[start : start + step]))
            await asyncio.sleep(self.chunk_delay_s)
        await ws.send(_text("turn.end", request_id, {}))
