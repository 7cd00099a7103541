"""The load benchmark's callers: what they say, in Piper's voice, cached, with known timings.

The callers complete the insurance scenario (verification, then an auto claim through the
offline flows engine). Each line is spoken once by the local Piper voice (artagent-local-speech,
no download), resampled to 16 kHz, cut in 20 ms frames, and every frame carries the utterance's
marker (:mod:`artagent_loadbench.script`), so the scripted recogniser knows what was said. For
each utterance the script file records where speech starts by its energy (the onset a barge-in
is timed from) and where each VAD says it ends, run offline through the engine's own
:class:`~artagent.session.turns.SpeechSegmenter` over the whole call's lines in order, as the
live VAD hears them (the speech end the reply latency is timed from). Everything is cached
under ``.artagent/loadbench/`` by the text and voice, so the synthesis runs once per machine.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))
import _loadbench_import  # noqa: E402, F401  (the markers' module, by path)

CACHE = ROOT / ".artagent" / "loadbench"
RATE = 16_000
FRAME_BYTES = 640
ONSET_DBFS = -40.0
"""A frame at least this loud starts the caller's speech (the barge-in clock)."""
NOISE_DBFS = -65.0
"""The line's noise floor under the caller's audio, silence included (a phone line is never
digital silence, and a VAD must not be measured on zeros)."""
VADS = ("webrtc", "silero")

LINES = (
    "John Smith, 98052.",
    "I had an accident.",
    "I was driving my Honda Accord yesterday at 3 pm, on Main Street in Redmond Washington.",
    "Two cars.",
    "Another car ran a red light, and hit my passenger side.",
    "98052.",
    "Yes, it still drives.",
    "One passenger.",
    "No.",
    "Commuting.",
    "Yes, that's right.",
    "No, that's all.",
)
"""One call, in order: every line answers the agent's previous question."""

REPLIES = (
    "Thank you for calling Contoso Insurance. To get started, please tell me your full name and "
    "ZIP code, or the last four digits of your policy or phone number.",
    "Thank you, John, you're verified. Would you like to report an accident and file a claim, or "
    "do you have a question about your policy?",
    "I'm sorry to hear about the accident, John. I'll take down the details. Who was driving the vehicle?",
    "Got it. How many vehicles were involved in total, including yours?",
    "Got it. Briefly, what happened?",
    "Got it. Do you know the ZIP code there?",
    "Got it. Is your vehicle still drivable?",
    "Got it. Were there any passengers in your vehicle? If so, how many?",
    "Got it. Was anyone injured?",
    "Got it. What was the purpose of the trip? For example commuting, personal, business or rideshare.",
    "Let me read that back. John Smith was driving your 2017 Honda Accord, with 2 vehicles involved, "
    "on Saturday, December 5, 2026 at Main Street, Redmond, WA. another car ran a red light and hit "
    "my passenger side. Your vehicle is drivable, with 1 passenger, and nobody was injured. Is that "
    "all correct?",
    "Your claim is recorded. Your claim number is C L A, 2 0 2 6, 0 0 0 0 0 2. An adjuster will "
    "contact you within one business day. Is there anything else I can help you with?",
    "Thank you for calling Contoso Insurance. Goodbye.",
)
"""What the flows engine answers (``artagent chat --scenario insurance`` with these lines): the
greeting, then one reply per line. The Pipecat bot's scripted model speaks these."""

BARGE_STEPS = (0, 2, 10, 11)
"""Lines an interrupting caller says over the agent, 2 s into its answer: over the greeting, the
intake agent's first question, the read-back and the claim number (spread over the call, so
that any measured window sees some)."""
BARGE_AFTER_S = 2.0


@dataclass(frozen=True)
class Utterance:
    text: str
    frames: int
    onset_ms: float
    """Where speech starts in the audio, by loudness."""
    start_ms: dict[str, list[float]]
    """Per VAD: when the engine's segmenter, fed that VAD, decides speech has started; one value
    per phase (see :data:`PHASES`), by the call's frame index the line starts at, modulo 8."""
    end_ms: dict[str, list[float]]
    """Per VAD: where the engine's segmenter, fed that VAD, places the end of speech (by phase)."""


PHASES = 8
"""Silero hears 32 ms windows counted from the call's first sample, and the lines start on 20 ms
frames: where a line's first frame falls in a window (its frame index modulo 8: 8 x 20 ms is
five windows) moves Silero's decisions by up to a window. The reference is made for each."""


def _key() -> str:
    return hashlib.sha256(json.dumps([LINES, "piper-default", NOISE_DBFS, 7]).encode()).hexdigest()[:12]


def folder() -> Path:
    return CACHE / f"voice-{_key()}"


def script_path() -> Path:
    return folder() / "script.json"


def mark(pcm: bytes, index: int) -> bytes:
    """The utterance's frames, each starting with its marker (the last one padded)."""
    from artagent_loadbench.script import MARK_BYTES, marker

    head = marker(index)
    pcm = pcm + bytes(-len(pcm) % FRAME_BYTES)
    return b"".join(head + pcm[i + MARK_BYTES : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES))


def line_noise(pcm: bytes, seed: int) -> bytes:
    """``pcm`` with the line's noise floor added."""
    import numpy as np

    rng = np.random.default_rng(seed)
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    samples += rng.normal(0, 32768 * 10 ** (NOISE_DBFS / 20), samples.size)
    return np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()


def _dbfs(frame: bytes) -> float:
    samples = struct.unpack(f"<{len(frame) // 2}h", frame)
    power = sum(s * s for s in samples) / max(1, len(samples))
    return 10 * math.log10(power / 32768**2) if power else -120.0


def onset_ms(pcm: bytes) -> float:
    for i in range(0, len(pcm), FRAME_BYTES):
        if _dbfs(pcm[i : i + FRAME_BYTES]) >= ONSET_DBFS:
            return i / FRAME_BYTES * 20.0
    return 0.0


async def _segmented_ms(
    vad: Any, lines: list[bytes], silence: bytes, phase: int = 0
) -> list[tuple[float, float]]:
    """Per line: where the segmenter, fed ``vad``, decides its speech started (the end of the
    frame that decided it) and where it places its end, both from the line's first frame.

    The lines go through one VAD stream in order, about 3 s of the line's noise before each and
    1 s after the last, as a call sends them: a VAD adapts to what it heard before (webrtc ends
    one of these lines 100 ms later after the call's earlier lines than alone), and the
    reference must be what the live VAD decides. Each line starts at a frame whose index is
    ``phase`` modulo :data:`PHASES` (the pause before it is 3 s and up to 7 frames)."""
    from artagent.session.turns import SpeechSegmenter

    audio, begins = b"", []
    for pcm in lines:
        frames = len(audio) // FRAME_BYTES + 150
        frames += (phase - frames) % PHASES
        audio += (silence * 4)[: frames * FRAME_BYTES - len(audio)]
        begins.append(len(audio) / FRAME_BYTES * 20.0)
        audio += pcm
    audio += silence
    stream, segmenter = vad.open(sample_rate=RATE), SpeechSegmenter()
    segments: list[list[float]] = []
    for i in range(0, len(audio), FRAME_BYTES):
        change = segmenter.update(await stream.speech_probability(audio[i : i + FRAME_BYTES]))
        if change == "speech_started":
            segments.append([segmenter.position_ms, math.nan])
        elif change == "speech_stopped" and segments:
            segments[-1][1] = segmenter.speech_stop_ms
    bounds = []
    for k, begin in enumerate(begins):
        until = begins[k + 1] if k + 1 < len(begins) else math.inf
        mine = [seg for seg in segments if begin <= seg[0] < until]
        if not mine or math.isnan(mine[-1][1]):
            raise RuntimeError(f"{type(vad).__name__} heard no whole utterance in caller line {k}")
        bounds.append((mine[0][0] - begin, mine[-1][1] - begin))
    return bounds


async def _make(where: Path) -> None:
    from artagent.config import parse_config
    from artagent.runtime import Runtime
    from artagent_acs.simulator.audio import synthesize

    # One stream at a time: no other call's Silero window to wait for.
    config = "[plugins.local_speech.vad]\nsilero_batch_ms = 0.0\n"
    runtime = Runtime(parse_config(config, base_dir=Path.cwd(), source="<load reference>"))
    tts = runtime.providers.create("tts", "piper")
    vads = {name: runtime.providers.create("vad", name) for name in VADS}
    for provider in (tts, *vads.values()):
        if hasattr(provider, "warm_up"):
            await provider.warm_up()
    onsets, lines = [], []
    for index, text in enumerate(LINES):
        pcm = await synthesize(tts, text, RATE)
        onsets.append(onset_ms(pcm))
        lines.append(mark(line_noise(pcm + bytes(-len(pcm) % FRAME_BYTES), 100 + index), index))
    silence = line_noise(bytes(FRAME_BYTES * 50), 3)
    bounds = {
        name: [await _segmented_ms(vad, lines, silence, phase) for phase in range(PHASES)]
        for name, vad in vads.items()
    }
    items = []
    for index, (text, pcm) in enumerate(zip(LINES, lines, strict=True)):
        (where / f"{index:02d}.pcm").write_bytes(pcm)
        starts = {name: [b[index][0] for b in by_phase] for name, by_phase in bounds.items()}
        ends = {name: [b[index][1] for b in by_phase] for name, by_phase in bounds.items()}
        frames = len(pcm) // FRAME_BYTES
        items.append({"text": text, "frames": frames, "onset_ms": onsets[index], "start_ms": starts,
                      "end_ms": ends})  # fmt: skip
    data = {"utterances": items, "replies": list(REPLIES), "barge_steps": list(BARGE_STEPS),
            "barge_after_s": BARGE_AFTER_S}  # fmt: skip
    (where / "silence.pcm").write_bytes(silence)
    (where / "script.json").write_text(json.dumps(data, indent=1), encoding="utf-8")


def ensure_voice() -> Path:
    """The script file, synthesising the callers' lines first if this machine has not yet."""
    path = script_path()
    if not path.exists():
        folder().mkdir(parents=True, exist_ok=True)
        asyncio.run(_make(folder()))
    return path


def load(path: Path | None = None) -> tuple[list[Utterance], list[bytes], bytes]:
    """The utterances, their marked audio (20 ms frames, concatenated) and a second of the
    line's noise (what the caller sends while silent)."""
    path = path or ensure_voice()
    data = json.loads(path.read_text(encoding="utf-8"))
    utterances = [
        Utterance(u["text"], u["frames"], u["onset_ms"], dict(u["start_ms"]), dict(u["end_ms"]))
        for u in data["utterances"]
    ]
    audio = [(path.parent / f"{i:02d}.pcm").read_bytes() for i in range(len(utterances))]
    return utterances, audio, (path.parent / "silence.pcm").read_bytes()


if __name__ == "__main__":
    print(ensure_voice())
    for u in load()[0]:
        print(f"{u.frames * 20:6d} ms  onset {u.onset_ms:5.0f}  start {u.start_ms}  end {u.end_ms}  {u.text}")
