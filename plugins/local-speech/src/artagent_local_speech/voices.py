"""Which Piper voice a :class:`~artagent.providers.VoiceSpec` means, and loading it once.

``VoiceSpec.name`` may be empty (the default voice), a name this provider knows (the bundled
``en_US-joe-medium``, or one of ``[plugins.local_speech.tts] voices``), or the path of a Piper
``.onnx`` voice. Anything else (a voice written for another TTS, a typo in an agent's YAML) is
spoken with the default voice, and a warning names it the first time it is seen.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from artagent.providers import VoiceSpec

from artagent_local_speech.config import TTSConfig
from artagent_local_speech.models import BUNDLED_VOICE, bundled_voice, cached, shared, voice_files

__all__ = ["VoiceLibrary", "length_scale"]

log = logging.getLogger(__name__)

KEY = "plugins.local_speech.tts"
MIN_RATE, MAX_RATE = 0.5, 2.0


class VoiceLibrary:
    """The voices of one TTS provider (one per worker process)."""

    def __init__(self, settings: TTSConfig) -> None:
        self.threads = settings.threads
        self.known: dict[str, Path] = {BUNDLED_VOICE: bundled_voice()}
        for name, path in settings.voices.items():
            self.known[name] = voice_files(path, f"{KEY}.voices.{name}")
        voice = settings.voice or BUNDLED_VOICE
        self.default = self.known[voice] if voice in self.known else voice_files(voice, f"{KEY}.voice")
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def path_for(self, voice: VoiceSpec | None) -> Path:
        """The voice file for ``voice``; unknown names fall back to the default (warned once)."""
        name = voice.name if voice is not None else None
        if not name:
            return self.default
        if name in self.known:
            return self.known[name]
        path = Path(name).expanduser()
        if path.suffix == ".onnx" and path.is_file() and path.with_name(path.name + ".json").is_file():
            return path.resolve()
        with self._lock:
            first = name not in self._warned
            self._warned.add(name)
        if first:
            log.warning(
                "no Piper voice %r (known: %s, or a path to a .onnx voice): using %s instead",
                name,
                ", ".join(sorted(self.known)),
                self.default.stem,
            )
        return self.default

    def loaded(self, path: Path) -> Any | None:
        """The voice of ``path`` if it is loaded already (so no pool job is needed), else None."""
        return cached(("piper", str(path), self.threads))

    def load(self, path: Path) -> Any:
        """The ``piper.PiperVoice`` of ``path``, loaded once per process (blocking)."""
        return shared(("piper", str(path), self.threads), lambda: _load_voice(path, self.threads))


def _load_voice(path: Path, threads: int) -> Any:
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    config = json.loads(path.with_name(path.name + ".json").read_text(encoding="utf-8"))
    session = onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    return PiperVoice(session=session, config=PiperConfig.from_dict(config))


def length_scale(piper_voice: Any, voice: VoiceSpec | None) -> float:
    """Piper's phoneme length scale for ``voice.rate`` (1.25 speaks 25% faster), from the voice's own."""
    base = float(piper_voice.config.length_scale or 1.0)
    rate = voice.rate if voice is not None and voice.rate > 0 else 1.0
    return base / min(MAX_RATE, max(MIN_RATE, rate))
