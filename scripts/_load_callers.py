"""The load generator: many simulated phone callers on one event loop, over the ACS media protocol.

Run as a process of its own by scripts/bench_load.py (a job as JSON on stdin, the samples as
JSON on stdout), so that its CPU is measured apart from the server's. Each caller slot places
calls one after another until the deadline, against the servers given (round robin, one
``POST /api/v1/acs/simulate`` then the media WebSocket it returns, with ``"events": false``: only
audio crosses the socket, as with ACS). A call follows the insurance script: it waits for the
agent to finish (no audio for ``QUIET_S``), pauses a moment, then says its next line; an
interrupting caller says two lines over the agent instead, ``barge_after_s`` into its greeting
and its read-back.

Cheap per frame: every frame's WebSocket bytes are built once (a masked text frame whose
masking key is zero, so the JSON is written as it is; only the ACS ``timestamp`` is filled in
when sent), and one shared timer sends them: every 2 ms it serves the tenth of the callers
whose phase it is, each caller a frame every 20 ms. What comes back is classified by its first
bytes, never decoded.

What is measured, on the monotonic clock of this machine (the servers share it):

- ``reply_ms``: the caller's speech end (where the VAD, run offline over the line through the
  engine's segmenter, places it) to the first agent audio frame received after it;
- ``barge_ms``: speech onset (the first frame at least -40 dBFS) of a line said over the agent
  to the ``StopAudio`` received;
- ``overlaps``: lines during which the agent's audio came back (it had only paused for
  ``QUIET_S``): such a turn's reply is not timed;
- ``barge_vad_ms``: the same, from where the VAD, run offline over the line through the
  engine's segmenter (with the line's first frame at the same place in Silero's 32 ms windows
  as in this call), decides that speech started (what is left is the engine's and the
  wire's share);
- ``late`` / ``frames_in``: agent ``AudioData`` messages that arrived after the caller's
  playout buffer had run dry within a reply (a gap the caller hears), and all agent audio in
  20 ms frames (a message may carry several: each extends the buffer by the audio it holds);
- ``tick_lag_ms``: how late the generator's own timer ran (if large, the generator, not the
  server, was the bottleneck).
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from _load_voice import Utterance, load  # noqa: E402

FRAME_S = 0.02
PHASES = 10
QUIET_S = 0.7
"""No agent audio this long: the agent has finished speaking."""
TALKING_S = 0.3
"""Agent audio this recent: the agent is talking (a caller may barge in on it)."""
NEW_REPLY_S = 1.0
"""A gap this long between agent frames starts a new reply (shorter ones are late frames)."""
PARTICIPANT = "4:+15550100001"
_STAMP_LEN = len("2026-01-01T10:00:00.020Z")
_AUDIO = b'{"kind":"AudioData"'
_STOP = b'{"kind":"StopAudio"'


# -- frames on the wire ----------------------------------------------------------------------------
def _audio_s(message: bytes) -> float:
    """The seconds of audio in an ``AudioData`` message (16 kHz PCM16, base64): servers may send
    any length (ARTAgent 40 ms by default, [plugins.acs] send_ms)."""
    start = message.find(b'"data":"') + 8
    end = message.find(b'"', start)
    if start < 8 or end < 0:
        return FRAME_S
    size = (end - start) * 3 // 4 - (message[end - 2 : end].count(b"="))
    return size / (2 * 16_000)


def _ws_text_frame(payload: bytes) -> bytes:
    """One masked WebSocket text frame with a zero masking key (the payload stays readable)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x81, 0x80 | n))
    elif n < 65536:
        head = bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + b"\x00\x00\x00\x00" + payload


class WireFrame:
    """A caller frame's bytes, split around its timestamp."""

    __slots__ = ("head", "tail")

    def __init__(self, pcm: bytes, *, silent: bool = False) -> None:
        flag = "true" if silent or not any(pcm) else "false"
        data = base64.b64encode(pcm).decode()
        text = (
            '{"kind":"AudioData","audioData":{"data":"' + data + '","timestamp":"'
            + "X" * _STAMP_LEN + '","participantRawID":"' + PARTICIPANT + '","silent":' + flag + "}}"
        )  # fmt: skip
        frame = _ws_text_frame(text.encode())
        at = frame.index(b"X" * _STAMP_LEN)
        self.head, self.tail = frame[:at], frame[at + _STAMP_LEN :]


def metadata_frame() -> bytes:
    meta = {"subscriptionId": "load", "encoding": "PCM", "sampleRate": 16000, "channels": 1, "length": 640}
    return _ws_text_frame(json.dumps({"kind": "AudioMetadata", "audioMetadata": meta}).encode())


class Stamp:
    """The ACS timestamp of now, formatted once per millisecond for every caller."""

    def __init__(self) -> None:
        self._ms = -1
        self._second = -1
        self._prefix = ""
        self.value = b""

    def update(self) -> bytes:
        now = time.time()
        ms = int(now * 1000)
        if ms != self._ms:
            second = ms // 1000
            if second != self._second:
                self._second = second
                self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._ms = ms
            self.value = f"{self._prefix}.{ms % 1000:03d}Z".encode()
        return self.value


# -- what is measured ------------------------------------------------------------------------------
@dataclass
class Samples:
    reply_ms: list[float] = field(default_factory=list)
    reply_step: list[int] = field(default_factory=list)
    barge_ms: list[float] = field(default_factory=list)
    barge_vad_ms: list[float] = field(default_factory=list)
    """From where the VAD (offline, through the engine's segmenter) decided the line started."""
    late: int = 0
    gap_ms: float = 0.0
    frames_in: int = 0
    frames_out: int = 0
    calls_started: int = 0
    calls_completed: int = 0
    calls_failed: int = 0
    barges_missed: int = 0
    replies_missed: int = 0
    overlaps: int = 0
    """Lines the agent talked over (its audio had paused long enough to seem finished)."""
    tick_lag_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


@dataclass
class Window:
    start: float
    end: float

    def __contains__(self, t: float) -> bool:
        return self.start <= t <= self.end


# -- one call --------------------------------------------------------------------------------------
class Script:
    """The caller lines' frames on the wire, with their timings for one VAD."""

    def __init__(self, vad: str, barge_steps: list[int], barge_after_s: float) -> None:
        utterances, audio, silence = load()
        self.lines: list[Utterance] = utterances
        self.frames: list[list[WireFrame]] = [
            [WireFrame(pcm[i : i + 640]) for i in range(0, len(pcm), 640)] for pcm in audio
        ]
        self.silence = [WireFrame(silence[i : i + 640], silent=True) for i in range(0, len(silence), 640)]
        # By line, then by phase: the index of the call's frame the line starts at, modulo 8.
        self.end_s = [[ms / 1000 for ms in u.end_ms[vad]] for u in utterances]
        self.onset_s = [u.onset_ms / 1000 for u in utterances]
        self.start_s = [[ms / 1000 for ms in u.start_ms[vad]] for u in utterances]
        self.barge_steps = set(barge_steps)
        self.barge_after_s = barge_after_s


class Call:
    """One simulated phone call: a state machine advanced by the shared timer."""

    def __init__(self, script: Script, transport: Any, samples: Samples, window: Window,
                 *, barge: bool, rng: random.Random) -> None:  # fmt: skip
        self.script, self.transport, self.samples, self.window = script, transport, samples, window
        self.barge, self.rng = barge, rng
        self.step = 0
        self.speaking: list[WireFrame] | None = None
        self.position = 0
        self.sent = 0
        """Frames sent on this call so far (the server's VAD hears them in this order)."""
        self.phase = 0
        """The current (or last) line's first frame index, modulo 8 (see Script)."""
        self.speak_at: float | None = None
        self.spoke_at = 0.0
        """When the current (or last) line's first frame was sent. A frame goes out once its
        20 ms have been heard, so the line's audio time 0 was ``spoke_at - FRAME_S``."""
        self.heard_since = False
        """Agent audio arrived since the last line ended (it is answering)."""
        self.last_audio = 0.0
        self.first_reply: float | None = None
        self.awaiting_reply = False
        self.awaiting_stop = False
        self.play_end = 0.0
        self.overlapped = False
        """Agent audio came while the caller said its line (not over an interruption)."""
        self.quiet = rng.randrange(50)
        """Silent frames sent (which second of line noise comes next)."""
        self.done = asyncio.get_running_loop().create_future()
        self.finished = False

    # -- what the server sends -----------------------------------------------------------------
    def heard(self, message: bytes, now: float) -> None:
        samples = self.samples
        if message.startswith(_AUDIO):
            counted = now in self.window
            audio_s = _audio_s(message)
            if counted:
                samples.frames_in += max(1, round(audio_s / FRAME_S))
            if now - self.last_audio < NEW_REPLY_S and now > self.play_end and counted:
                samples.late += 1
                samples.gap_ms += (now - self.play_end) * 1000
            self.play_end = max(now, self.play_end) + audio_s
            self.last_audio = now
            if self.speaking is None:
                self.heard_since = True
            elif not self.awaiting_stop:
                self.overlapped = True  # the agent talks while the caller does, unasked
            if self.awaiting_reply and not self.awaiting_stop:
                self.awaiting_reply = False
                end = self.spoke_at - FRAME_S + self.script.end_s[self.step - 1][self.phase]
                if self.overlapped:
                    samples.overlaps += counted  # no reply to time: the agent never stopped
                elif counted and now > end:
                    samples.reply_ms.append((now - end) * 1000)
                    samples.reply_step.append(self.step - 1)
        elif message.startswith(_STOP):
            self.play_end = now
            if self.awaiting_stop and self.speaking is not None:
                self.awaiting_stop = False
                heard_at = self.spoke_at - FRAME_S
                if now in self.window:
                    samples.barge_ms.append((now - heard_at - self.script.onset_s[self.step]) * 1000)
                    decided = self.script.start_s[self.step][self.phase]
                    samples.barge_vad_ms.append((now - heard_at - decided) * 1000)

    # -- the caller's frame, every 20 ms -------------------------------------------------------
    def tick(self, now: float, stamp: bytes) -> WireFrame:
        self.sent += 1
        if self.speaking is None:
            self._maybe_start(now)
        if self.speaking is None:
            self.quiet += 1
            silence = self.script.silence
            return silence[self.quiet % len(silence)]
        frame = self.speaking[self.position]
        self.position += 1
        if self.position == len(self.speaking):
            self._line_said()
        return frame

    def _maybe_start(self, now: float) -> None:
        script = self.script
        if self.step >= len(script.frames):
            return
        barging = self.barge and self.step in script.barge_steps
        if self.speak_at is None:
            if barging:
                if self.heard_since and now - self.last_audio < TALKING_S:
                    self.speak_at = now + script.barge_after_s
            elif self.heard_since and now - self.last_audio >= QUIET_S:
                self.speak_at = now + self.rng.uniform(0.1, 0.6)  # the caller thinks
            return
        if now >= self.speak_at:
            self.speak_at = None
            self.speaking, self.position, self.spoke_at = script.frames[self.step], 0, now
            self.phase = (self.sent - 1) % len(script.start_s[self.step])
            self.overlapped = False
            self.awaiting_stop = barging and now - self.last_audio < TALKING_S
            if barging and not self.awaiting_stop and now in self.window:
                self.samples.barges_missed += 1

    def _line_said(self) -> None:
        if self.awaiting_stop:  # spoke over the agent and it never stopped
            self.awaiting_stop = False
            if self.spoke_at in self.window:
                self.samples.barges_missed += 1
        if self.awaiting_reply and self.spoke_at in self.window:
            self.samples.replies_missed += 1
        self.speaking, self.heard_since = None, False
        self.step += 1
        self.awaiting_reply = True


# -- the generator ---------------------------------------------------------------------------------
class Generator:
    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        self.script = Script(job["vad"], job["barge_steps"], job["barge_after_s"])
        self.samples = Samples()
        self.slots: list[list[tuple[Call, Any]]] = [[] for _ in range(PHASES)]
        self.stamp = Stamp()
        self.meta = metadata_frame()
        self.next_phase = 0

    async def run(self) -> dict[str, Any]:
        import httpx

        job = self.job
        t0 = job["t0"]  # time.monotonic() of the benchmark (the loop's clock, system-wide)
        self.window = Window(t0 + job["window"][0], t0 + job["window"][1])
        self.deadline = t0 + job["duration_s"]
        rng = random.Random(job["seed"])
        async with httpx.AsyncClient(timeout=30) as http:
            ticker = asyncio.create_task(self._ticker(t0))
            slots = [
                asyncio.create_task(self._slot(i, t0 + rng.uniform(0, job["ramp_s"]), http, rng.random()))
                for i in range(job["calls"])
            ]
            await asyncio.gather(*slots)
            ticker.cancel()
        cpu = self.cpu
        return {
            **vars(self.samples),
            "cpu_s": cpu[1] - cpu[0],
            "window_s": self.window.end - self.window.start,
        }

    async def _slot(self, index: int, start: float, http: Any, share: float) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, start - loop.time()))
        urls = self.job["urls"]
        rng = random.Random(index)
        while loop.time() < self.deadline - 5:
            barge = rng.random() < self.job["barge_share"]
            try:
                await self._call(urls[index % len(urls)], http, barge, rng)
            except Exception as exc:  # a refused or broken call: counted, the slot goes on
                self.samples.calls_failed += 1
                self.samples.error(type(exc).__name__)
                await asyncio.sleep(1.0)

    async def _call(self, url: str, http: Any, barge: bool, rng: random.Random) -> None:
        from websockets.asyncio.client import connect

        token = self.job.get("token")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await http.post(f"{url}/api/v1/acs/simulate", json={"events": False}, headers=headers)
        response.raise_for_status()
        media = response.json()["media_url"]
        async with connect(media, compression=None, max_size=2**20, open_timeout=30) as ws:
            self.samples.calls_started += 1
            transport = ws.transport
            transport.write(self.meta)
            call = Call(self.script, transport, self.samples, self.window, barge=barge, rng=rng)
            slot = self.slots[self.next_phase]
            self.next_phase = (self.next_phase + 1) % PHASES
            entry = (call, transport)
            slot.append(entry)
            loop = asyncio.get_running_loop()
            try:
                while True:
                    message = await ws.recv(decode=False)
                    call.heard(message, loop.time())  # type: ignore[arg-type]
            except Exception:  # the server closed the call (the agent's goodbye) or the deadline
                pass
            finally:
                if entry in slot:
                    slot.remove(entry)
            if call.step >= len(self.script.frames):
                self.samples.calls_completed += 1

    async def _ticker(self, t0: float) -> None:
        loop = asyncio.get_running_loop()
        tick, period, phase = t0, FRAME_S / PHASES, 0
        lags = self.samples.tick_lag_ms
        self.cpu = [0.0, 0.0]
        measuring = False
        while True:
            tick += period
            delay = tick - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = loop.time()
            if now in self.window:
                if not measuring:
                    measuring, self.cpu[0] = True, time.process_time()
                lags.append((now - tick) * 1000)
            elif measuring and now > self.window.end:
                measuring, self.cpu[1] = False, time.process_time()
            stamp = self.stamp.update()
            sent = 0
            for call, transport in self.slots[phase]:
                if transport.is_closing():
                    continue
                frame = call.tick(now, stamp)
                transport.write(frame.head + stamp + frame.tail)
                sent += 1
            if now in self.window:
                self.samples.frames_out += sent
            if now > self.deadline:
                for slot in self.slots:
                    for _, transport in slot:
                        transport.close()
                if self.cpu[1] == 0.0:
                    self.cpu[1] = time.process_time()
                return
            phase = (phase + 1) % PHASES


def main() -> None:
    job = json.loads(sys.stdin.read())
    result = asyncio.run(Generator(job).run())
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
