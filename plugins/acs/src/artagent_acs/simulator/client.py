"""The caller's side of the ACS media protocol: what ACS does for a phone, done from Python.

A :class:`MediaClient` connects to a media URL, sends caller audio as ACS does (an ``AudioData``
message every 20 ms, silence included, paced at real time), keys DTMF, and records what comes
back: agent audio with its arrival times, ``StopAudio`` (barge-in), the call's events (for
simulated calls that asked for them) and how the socket was closed. ``artagent call``, the
tests and the load benchmark all drive calls through it.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import websockets
from websockets.asyncio.client import ClientConnection

__all__ = ["MediaClient", "Received"]

FRAME_S = 0.02


@dataclass
class Received:
    """What the server sent, with monotonic arrival times."""

    audio: list[tuple[float, bytes]] = field(default_factory=list)
    stop_audio: list[float] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    """Messages of no kind we know (kept for tests)."""


class _Message(msgspec.Struct):
    kind: str = ""
    audioData: dict[str, Any] | None = None
    event: dict[str, Any] | None = None


_decode = msgspec.json.Decoder(_Message).decode


class MediaClient:
    """One simulated phone on one media URL. ``async with MediaClient.connect(url) as phone``."""

    def __init__(
        self, ws: ClientConnection, *, sample_rate: int, participant: str = "4:+15550100001"
    ) -> None:
        self.ws, self.sample_rate, self.participant = ws, sample_rate, participant
        self.silence_without_data = False
        """Send silent frames as ``{"silent": true}`` with no ``data``."""
        self.frame_bytes = sample_rate * 2 // 50
        self.received = Received()
        self.sent: list[bytes] = []
        """Every caller frame sent, silence included (the caller's side of the call)."""
        self.started_at = time.monotonic()
        self.on_event: Callable[[dict[str, Any]], None] | None = None
        self._speech: asyncio.Queue[tuple[bytes, asyncio.Future[object] | None]] = asyncio.Queue()
        self._closed = asyncio.Event()
        self._event_arrived = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []
        self._notifier: asyncio.Future[None] | None = None
        self.close_code: int | None = None
        self.close_reason: str = ""

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        sample_rate: int,
        headers: dict[str, str] | None = None,
        participant: str = "4:+15550100001",
    ) -> MediaClient:
        ws = await websockets.connect(url, additional_headers=headers, max_size=2**22)
        client = cls(ws, sample_rate=sample_rate, participant=participant)
        client.start()
        return client

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._pace()), asyncio.create_task(self._read())]

    async def __aenter__(self) -> MediaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- sending ------------------------------------------------------------------------------
    def _audio_message(self, pcm: bytes) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        head = '{"kind":"AudioData","audioData":{"timestamp":"' + stamp + '","participantRawID":"'
        if not any(pcm):
            if self.silence_without_data:  # the flag alone: the channel must still count it as 20 ms
                return head + self.participant + '","silent":true}}'
            return (
                head + self.participant + '","silent":true,"data":"' + base64.b64encode(pcm).decode() + '"}}'
            )
        return head + self.participant + '","silent":false,"data":"' + base64.b64encode(pcm).decode() + '"}}'

    async def _pace(self) -> None:
        """An AudioData every 20 ms, from the speech queue or silence, on a fixed schedule."""
        silence = bytes(self.frame_bytes)
        start, sent = time.monotonic(), 0
        try:
            metadata = {
                "subscriptionId": "simulated",
                "encoding": "PCM",
                "sampleRate": self.sample_rate,
                "channels": 1,
                "length": self.frame_bytes,
            }
            await self.ws.send(
                msgspec.json.encode({"kind": "AudioMetadata", "audioMetadata": metadata}).decode()
            )
            while not self._closed.is_set():
                frame, done = (silence, None) if self._speech.empty() else self._speech.get_nowait()
                await self.ws.send(self._audio_message(frame))
                self.sent.append(frame)
                if done is not None and not done.done():
                    done.set_result(None)
                sent += 1
                await asyncio.sleep(max(0.0, start + sent * FRAME_S - time.monotonic()))
        except websockets.ConnectionClosed:
            pass

    async def say(self, pcm: bytes) -> None:
        """Speak ``pcm`` (at the stream's rate); returns once its last frame was sent."""
        n = self.frame_bytes
        frames = [pcm[i : i + n].ljust(n, b"\x00") for i in range(0, len(pcm), n)]
        if not frames:
            return
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        for index, frame in enumerate(frames):
            self._speech.put_nowait((frame, done if index == len(frames) - 1 else None))
        closed: asyncio.Future[object] = asyncio.ensure_future(self._closed.wait())
        await asyncio.wait({done, closed}, return_when=asyncio.FIRST_COMPLETED)
        closed.cancel()

    async def silence(self, seconds: float) -> None:
        await self.say(bytes(self.frame_bytes * max(1, round(seconds / FRAME_S))))

    async def dtmf(self, digits: str, *, field_name: str = "data") -> None:
        """Key ``digits``, one ``DtmfData`` message each (``field_name``: ``data`` or ``tone``)."""
        for digit in digits:
            await self.ws.send(
                msgspec.json.encode({"kind": "DtmfData", "dtmfData": {field_name: digit}}).decode()
            )
            await asyncio.sleep(0.05)

    async def hang_up(self) -> None:
        """Put the phone down politely (simulated calls: the server ends the call and still
        sends what it has, ``call_ended`` last, before closing)."""
        try:
            await self.ws.send('{"kind":"Hangup"}')
        except websockets.ConnectionClosed:
            pass

    async def drop(self) -> None:
        """The line goes dead: close the socket at once (a caller hanging up mid-sentence)."""
        self._closed.set()
        await self.ws.close()

    # -- receiving ----------------------------------------------------------------------------
    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self._handle(raw if isinstance(raw, str) else raw.decode())
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason or ""
            self._closed.set()
            async with self._event_arrived:
                self._event_arrived.notify_all()

    def _handle(self, raw: str) -> None:
        message, now = _decode(raw), time.monotonic()
        if message.kind == "AudioData" and message.audioData is not None:
            self.received.audio.append((now, base64.b64decode(message.audioData.get("data", ""))))
        elif message.kind == "StopAudio":
            self.received.stop_audio.append(now)
        elif message.kind == "ArtAgentEvent" and message.event is not None:
            self.received.events.append(message.event)
            if self.on_event is not None:
                self.on_event(message.event)
            self._notifier = asyncio.ensure_future(self._notify())
        else:
            self.received.other.append(raw)

    async def _notify(self) -> None:
        async with self._event_arrived:
            self._event_arrived.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def events_of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.received.events if e.get("type") == kind]

    async def wait_for(self, predicate: Callable[[MediaClient], bool], timeout: float = 10.0) -> bool:
        """Wait until ``predicate(self)`` holds (checked on every event and at most every 50 ms)."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if self.closed and not predicate(self):
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            async with self._event_arrived:
                try:
                    await asyncio.wait_for(self._event_arrived.wait(), min(left, 0.05))
                except TimeoutError:
                    pass
        return True

    async def wait_event(self, kind: str, count: int = 1, timeout: float = 10.0) -> bool:
        return await self.wait_for(lambda c: len(c.events_of(kind)) >= count, timeout)

    def heard_s(self) -> float:
        """Seconds of agent audio received (a message may hold any length: the server's
        ``send_ms``)."""
        return sum(len(pcm) for _, pcm in self.received.audio) / (2 * self.sample_rate)

    def agent_quiet_for(self) -> float:
        """Seconds since the last agent audio frame arrived (since the start if none did)."""
        last = self.received.audio[-1][0] if self.received.audio else self.started_at
        return time.monotonic() - last

    async def until_agent_done(self, *, quiet_s: float = 0.6, timeout: float = 60.0) -> bool:
        """Wait until the agent has finished what it is saying: every playback it started has
        its ``agent_response_generated`` (with events), and no audio came for ``quiet_s``."""

        def done(c: MediaClient) -> bool:
            started = len(c.events_of("playback_started"))
            answered = len(c.events_of("agent_response_generated"))
            return (
                answered >= started and c.agent_quiet_for() >= quiet_s and bool(c.received.audio or answered)
            )

        return await self.wait_for(done, timeout)

    async def closed_within(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._closed.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        self._closed.set()
        await self.ws.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def agent_audio(self) -> bytes:
        """The agent's audio laid on the call's timeline (silence where nothing came)."""
        out, rate = bytearray(), self.sample_rate
        for at, pcm in self.received.audio:
            position = int((at - self.started_at) * rate) * 2
            if position > len(out):
                out.extend(bytes(position - len(out)))
            out.extend(pcm)
        return bytes(out)
