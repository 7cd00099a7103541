"""One call's ACS media WebSocket as a :class:`~artagent.providers.MediaChannel`.

A reader task turns the socket's messages into 20 ms 16 kHz caller frames (resampled from
24 kHz when the stream is), DTMF digits and the caller's hang-up; a watchdog ends the call when
the stream stops sending audio (ACS sends ``AudioData`` every 20 ms, silence included, so no
audio at all means the stream is dead, whatever else still comes). Agent audio goes out as
``AudioData`` of ``send_ms`` each (resampled to the stream's rate), barge-in as ``StopAudio``. A message that
cannot be read is counted and skipped, never ending the call; the first of a call is logged,
later ones summed up (at most one warning a minute, and one at the end).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any

from artagent.audio import FrameSplitter, Resampler
from artagent.events import ErrorOccurred, Event
from litestar import WebSocket
from litestar.types import WebSocketSendEvent

from artagent_acs.calls import AcsCall
from artagent_acs.media import (
    STOP_AUDIO,
    AudioDataMessage,
    AudioMetadataMessage,
    DtmfDataMessage,
    HangupMessage,
    MediaDecodeError,
    decode_inbound,
    encode_audio,
    encode_event,
)
from artagent_acs.metrics import AcsMetrics

__all__ = ["AcsMediaChannel", "DtmfCollector", "InboundLag"]

log = logging.getLogger(__name__)
RATE = 16_000
FRAME_BYTES = 640
SUMMARY_EVERY_S = 60.0


class DtmfCollector:
    """Keys pressed one by one, handed on as one entry: after ``#`` (not included) or once no
    key came for ``pause_s``."""

    def __init__(self, submit: Callable[[str], Coroutine[Any, Any, None]], *, pause_s: float) -> None:
        self._submit, self.pause_s = submit, pause_s
        self._digits: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def key(self, digit: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if digit == "#":
            self._flush()
            return
        self._digits.append(digit)
        self._timer = asyncio.get_running_loop().call_later(self.pause_s, self._flush)

    def _flush(self) -> None:
        digits, self._digits, self._timer = "".join(self._digits), [], None
        if digits:
            task = asyncio.get_running_loop().create_task(self._submit(digits), name="dtmf")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


class InboundLag:
    """How late a call's audio reaches the channel: one frame in ``every``, its arrival (wall
    clock) minus its ACS ``timestamp``, less the smallest such transit the call has had, so the
    two clocks need not agree. What is left is network jitter plus the time the frame waited
    for this worker (a loop busy with other calls). One in 16 is three samples a second per
    call, plenty for a worker's percentiles, at a fraction of a microsecond per frame."""

    __slots__ = ("_best", "_count", "_every", "_observe")

    def __init__(self, observe: Callable[[float], None], every: int = 16) -> None:
        self._observe, self._every = observe, every
        self._count = 0
        self._best = math.inf

    def frame(self, stamp: str | None) -> None:
        self._count += 1
        if self._count < self._every or not stamp:
            return
        self._count = 0
        try:
            transit = time.time() - datetime.fromisoformat(stamp).timestamp()
        except ValueError:
            return
        if transit < self._best:
            self._best = transit
        self._observe(transit - self._best)


class AcsMediaChannel:
    """The media side of one call. ``start()`` once the socket is accepted, ``close()`` at the end."""

    def __init__(
        self,
        socket: WebSocket[Any, Any, Any],
        call: AcsCall,
        *,
        sample_rate: int,
        media_timeout_s: float,
        metrics: AcsMetrics,
        on_dtmf: Callable[[str], Coroutine[Any, Any, None]],
        on_hangup: Callable[[str], Awaitable[None]],
        on_transfer: Callable[[str | None, str], Awaitable[bool]],
        dtmf_pause_s: float = 1.5,
        send_ms: int = 20,
    ) -> None:
        self._socket, self.call, self._metrics = socket, call, metrics
        self.frames_per_send = max(1, send_ms // 20)
        """20 ms frames the session joins into one ``send`` (one ``AudioData`` message)."""
        self._media_timeout_s = media_timeout_s
        self._on_hangup, self._on_transfer = on_hangup, on_transfer
        self._dtmf = DtmfCollector(on_dtmf, pause_s=dtmf_pause_s)
        self._inbound: deque[bytes] = deque()
        """Caller frames not yet taken by the engine (a deque and one future: no queue machinery
        per frame)."""
        self._waiter: asyncio.Future[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._outgoing: asyncio.Queue[str | None] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._last_audio = self._loop.time()
        self._audio_count = 0
        self._rejected = 0
        self._rejected_logged = 0
        self._summarised_at = self._last_audio
        self._inbound_lag = InboundLag(metrics.inbound_lag.observe)
        self._caller: str | None = None
        self.closed = False
        self.timed_out = False
        self.hangup_reason: str | None = None
        self._set_rate(sample_rate)

    def _set_rate(self, rate: int) -> None:
        """The stream's rate (from config, then from ``AudioMetadata``)."""
        self.sample_rate = rate
        self._in = Resampler(rate, RATE) if rate != RATE else None
        self._out = Resampler(RATE, rate) if rate != RATE else None
        self._in_frames = FrameSplitter(RATE)
        self._silence = bytes(rate * 2 // 50)

    def start(self) -> None:
        self._tasks = [
            self._loop.create_task(self._read(), name=f"acs-media-{self.call.call_id}"),
            self._loop.create_task(self._watch(), name=f"acs-watchdog-{self.call.call_id}"),
            self._loop.create_task(self._write_events(), name=f"acs-events-{self.call.call_id}"),
        ]

    # -- inbound -----------------------------------------------------------------------------
    async def _read(self) -> None:
        receive = self._socket.receive
        try:
            while True:
                message = await receive()
                if message["type"] != "websocket.receive":
                    break
                data = message.get("text") or message.get("bytes")
                if not data:
                    self._reject("empty", "an empty message")
                    continue
                if not self._handle(data):
                    break
        except Exception as exc:  # the socket went away under us
            log.debug("media socket of %s ended: %r", self.call.call_id, exc)
        finally:
            self.end()

    def _handle(self, data: str | bytes) -> bool:
        """One message; False when the caller hung up (simulated ``Hangup``)."""
        try:
            message = decode_inbound(data)
        except MediaDecodeError as exc:
            self._reject(exc.reason, str(exc))
            return True
        if type(message) is AudioDataMessage:
            self._last_audio = self._loop.time()
            self._audio(message)
        elif type(message) is DtmfDataMessage:
            self._metrics.messages.labels("DtmfData").inc()
            digit = message.dtmfData.digit
            if len(digit) == 1 and digit in "0123456789*#ABCD":
                self._dtmf.key(digit)
            else:
                self._reject("malformed", f"DtmfData with no single key: {digit[:20]!r}")
        elif type(message) is AudioMetadataMessage:
            self._metrics.messages.labels("AudioMetadata").inc()
            rate = message.audioMetadata.sample_rate
            if rate in (16000, 24000) and rate != self.sample_rate:
                self._set_rate(rate)
        elif type(message) is HangupMessage:
            return False
        return True

    def _audio(self, message: AudioDataMessage) -> None:
        audio = message.audioData
        who = audio.participantRawID
        if who is not None:
            if self._caller is None:
                self._caller = who
            elif who != self._caller:
                return  # unmixed audio of another participant (a transfer target joining)
        pcm = audio.data or (self._silence if audio.silent else b"")
        if not pcm or len(pcm) % 2:
            self._reject("malformed", f"AudioData with {len(pcm)} bytes of PCM16")
            return
        self._audio_count += 1
        self._inbound_lag.frame(audio.timestamp)
        if self._in is not None:
            pcm = self._in.process(pcm)
        if len(pcm) == FRAME_BYTES and not self._in_frames.pending:
            self._inbound.append(pcm)
        else:
            self._inbound.extend(self._in_frames.feed(pcm))
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _watch(self) -> None:
        """End the call when the stream has sent no audio for ``media_timeout_s`` (DTMF or
        unreadable messages do not keep it alive)."""
        timeout = self._media_timeout_s
        while not self.closed:
            await asyncio.sleep(min(1.0, timeout / 4))
            self._count()
            if self._loop.time() - self._summarised_at >= SUMMARY_EVERY_S:
                self._summarise()
            if self._loop.time() - self._last_audio > timeout:
                self.timed_out = True
                self._metrics.media_timeouts.inc()
                self._report("MediaTimeout", f"the media stream sent no audio for {timeout:g} s")
                self.end()
                return

    def _count(self) -> None:
        if self._audio_count:
            self._metrics.messages.labels("AudioData").inc(self._audio_count)
            self._audio_count = 0

    def _reject(self, reason: str, detail: str) -> None:
        """A message skipped: counted, and the first of the call logged with why (the rest are
        summed up by :meth:`_summarise`, so a stream of garbage cannot flood the log)."""
        self._metrics.rejected.labels(reason).inc()
        self._rejected += 1
        if self._rejected == 1:
            self._rejected_logged = 1
            log.warning(
                "call %s: skipped a media message it cannot read (%s): %s",
                self.call.call_id, reason, detail[:200],
            )  # fmt: skip

    def _summarise(self) -> None:
        self._summarised_at = self._loop.time()
        more = self._rejected - self._rejected_logged
        if more > 0:
            self._rejected_logged = self._rejected
            log.warning(
                "call %s: skipped %d more media message(s) it cannot read (%d in all, by reason in "
                "artagent_acs_media_rejected_messages_total)", self.call.call_id, more, self._rejected,
            )  # fmt: skip

    def end(self) -> None:
        """The caller is gone (or the call is over): frames() ends after what was received."""
        if not self.closed:
            self.closed = True
            self._dtmf.close()
            self._wake()

    async def frames(self) -> AsyncIterator[bytes]:
        inbound, loop = self._inbound, self._loop
        while True:
            while inbound:
                yield inbound.popleft()
            if self.closed:
                return
            self._waiter = loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    # -- outbound ----------------------------------------------------------------------------
    async def send(self, frame: bytes) -> None:
        if self.closed:
            return  # the caller is gone; the session notices through frames()
        if self._out is None:
            await self._send_text(encode_audio(frame))
            return
        out = self._out.process(frame)  # one message whatever the resampler gives back
        if out:
            await self._send_text(encode_audio(out))

    async def flush(self) -> None:
        if self._out is not None:
            self._out.reset()
        if not self.closed:
            await self._send_text(STOP_AUDIO)

    async def _send_text(self, text: str) -> None:
        try:
            await self._socket.send(WebSocketSendEvent(type="websocket.send", text=text, bytes=None))
        except Exception as exc:  # the socket is closing: the reader ends the call
            log.debug("media send on %s failed: %r", self.call.call_id, exc)
            self.end()

    async def hangup(self, reason: str) -> None:
        """The agent ends the call: hang up on ACS (for everyone), then end the stream."""
        if self.hangup_reason is None:
            self.hangup_reason = reason
            try:
                await self._on_hangup(reason)
            finally:
                self.end()

    async def transfer(self, target: str | None, reason: str) -> bool:
        """Hand the call to a human; True once ACS accepted (our leg then ends)."""
        done = await self._on_transfer(target, reason)
        if done:
            self.end()
        return done

    # -- events to a simulated caller --------------------------------------------------------
    def observe(self, event_json: bytes) -> None:
        """Queue one of the call's events for the simulator (never blocks the publisher)."""
        self._outgoing.put_nowait(encode_event(event_json))

    async def _write_events(self) -> None:
        while (text := await self._outgoing.get()) is not None:
            await self._send_text(text)

    async def finish_events(self, timeout_s: float = 2.0) -> None:
        """Deliver the events still queued (``call_ended`` last), then stop the writer."""
        self._outgoing.put_nowait(None)
        writer = self._tasks[2] if len(self._tasks) > 2 else None
        if writer is not None:
            await asyncio.wait({writer}, timeout=timeout_s)

    def _report(self, kind: str, message: str) -> None:
        self.call.emit(ErrorOccurred, kind=kind, message=message, stage="media", recoverable=False)

    async def close(self) -> None:
        self.end()
        self._count()
        self._summarise()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def event_observer(channel: AcsMediaChannel, encode: Callable[[Event], bytes]) -> Callable[[Event], None]:
    """The launcher's observer for a simulated call that asked for its events."""

    def observe(event: Event) -> None:
        channel.observe(encode(event))

    return observe
