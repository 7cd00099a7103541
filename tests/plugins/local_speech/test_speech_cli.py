"""``artagent speech say`` and ``artagent speech transcribe``, run as a user runs them, with the
providers the configuration selects (here the plugin's silero, whisper and piper)."""

from __future__ import annotations

import importlib.metadata as md
import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
import soxr
from _speech_corpus import word_error_rate

ARTAGENT = str(Path(sys.executable).parent / "artagent")
SAID = "My policy number is 4 7 2 9 1 8 3 6. I would like to report an accident."


def run(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ARTAGENT, "speech", *args, "--config", str(config)], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("speech-cli")
    path = folder / "runtime.toml"
    path.write_text(
        f'[runtime]\ndata_dir = "{folder / "state"}"\n'
        '[session]\nvad = "silero"\nstt = "whisper"\ntts = "piper"\n'
    )
    return path


@pytest.fixture(scope="module")
def spoken(config: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("said") / "said.wav"
    done = run("say", SAID, "--out", str(out), config=config)
    assert done.returncode == 0, done.stderr
    return out, done.stdout


def test_say_writes_a_16_khz_wav_and_prints_its_timings(spoken: tuple[Path, str]) -> None:
    out, stdout = spoken
    with wave.open(str(out)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16_000)
        seconds = wav.getnframes() / 16_000
    assert 3.0 < seconds < 10.0
    assert f"wrote {out}" in stdout and "tts piper" in stdout
    assert "first audio" in stdout and "real-time factor" in stdout


def test_transcribe_prints_the_words_back_as_json(config: Path, spoken: tuple[Path, str]) -> None:
    out, _ = spoken
    done = run("transcribe", str(out), "--json", config=config)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert word_error_rate([SAID], [doc["text"]]) <= 0.1, doc
    assert doc["utterances"] and all(u["final_after_ms"] >= 0 for u in doc["utterances"])
    assert doc["audio_s"] > 3.0 and doc["real_time_factor"] < 1.0


def test_transcribe_takes_any_rate_width_and_channels(
    config: Path, spoken: tuple[Path, str], tmp_path: Path
) -> None:
    out, _ = spoken
    with wave.open(str(out)) as wav:
        mono = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64) / 32768
    narrow = soxr.resample(mono, 16_000, 8_000)
    samples = np.round(np.clip(narrow, -1, 1 - 2**-23) * 2**23).astype(np.int64)
    stereo = np.repeat(samples, 2)  # the same on both channels
    raw = np.stack([(stereo >> shift) & 0xFF for shift in (0, 8, 16)], axis=1).astype(np.uint8).tobytes()
    phone = tmp_path / "phone.wav"
    with wave.open(str(phone), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(3)
        wav.setframerate(8_000)
        wav.writeframes(raw)
    done = run("transcribe", str(phone), config=config)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("[")]
    heard = " ".join(line.split("] ", 1)[1].rsplit("  (final", 1)[0] for line in lines)
    assert word_error_rate([SAID], [heard]) <= 0.15, done.stdout
    assert "s of audio recognised in" in done.stdout


def test_say_with_an_unknown_voice_uses_the_default_and_says_so(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.wav"
    done = run("say", "Hello there.", "--out", str(out), "--voice", "en-GB-RyanNeural", config=config)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("no Piper voice 'en-GB-RyanNeural'") == 1
    assert out.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("transcribe", "/nonexistent/call.wav"), "/nonexistent/call.wav: no such file"),
        (("transcribe", __file__), "not a PCM WAV file"),
        (("say", "  ", "--out", "/tmp/never.wav"), "TEXT is empty"),
    ],
)
def test_bad_input_exits_1_saying_what_is_wrong(config: Path, args: tuple[str, ...], message: str) -> None:
    done = run(*args, config=config)
    assert done.returncode == 1
    assert message in done.stderr


def test_without_a_tts_provider_say_names_the_missing_kind(tmp_path: Path) -> None:
    config = tmp_path / "runtime.toml"
    installed = sorted(ep.name for ep in md.entry_points(group="artagent"))  # no speech plugin at all
    config.write_text(f'[runtime]\ndata_dir = "{tmp_path}"\ndisable_plugins = {json.dumps(installed)}\n')
    done = run("say", "Hello.", "--out", str(tmp_path / "x.wav"), config=config)
    assert done.returncode == 1
    assert "no tts provider is installed" in done.stderr and "(session.tts)" in done.stderr
