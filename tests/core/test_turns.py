"""Speech segmentation and end-of-turn delays."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from artagent.config import LoadedConfig
from artagent.providers import TurnDetector
from artagent.runtime import Runtime
from artagent.session.turns import EndpointingTurnDetector, SegmenterSettings, SpeechSegmenter, TurnSettings


def _run(segmenter: SpeechSegmenter, probabilities: list[float]) -> list[tuple[int, str]]:
    return [(i, c) for i, p in enumerate(probabilities) if (c := segmenter.update(p))]


def test_speech_starts_after_start_ms_backdated_to_its_first_frame() -> None:
    seg = SpeechSegmenter(SegmenterSettings(start_ms=60, stop_ms=200))
    changes = _run(seg, [0.0] * 5 + [0.9] * 10)
    assert changes == [(7, "speech_started")]  # third speech frame decides it
    assert seg.speech_start_ms == 100.0  # ...but speech began at frame 5


def test_a_click_does_not_start_speech_and_a_breath_does_not_stop_it() -> None:
    seg = SpeechSegmenter(SegmenterSettings(start_ms=60, stop_ms=200))
    assert _run(seg, [0.9, 0.9, 0.1] * 3) == []  # 40 ms bursts: clicks
    seg = SpeechSegmenter(SegmenterSettings(start_ms=60, stop_ms=200))
    probs = [0.9] * 10 + [0.1] * 5 + [0.9] * 10 + [0.1] * 10 + [0.0] * 5
    assert _run(seg, probs) == [(2, "speech_started"), (34, "speech_stopped")]
    assert seg.speech_stop_ms == 500.0  # the silence began after frame 24
    assert seg.silence_ms == pytest.approx(300.0)  # 15 silent frames since then


def test_hysteresis_between_threshold_and_release() -> None:
    seg = SpeechSegmenter(SegmenterSettings(threshold=0.5, release=0.3, start_ms=20, stop_ms=100))
    # 0.4 is below the threshold (does not start speech) but above release (does not stop it).
    assert _run(seg, [0.4] * 10) == []
    assert _run(seg, [0.6] + [0.4] * 20) == [(0, "speech_started")]


@pytest.mark.parametrize(
    ("transcript", "expected"),
    [
        ("I'd like to file a claim.", 0.4),
        ("Is my glass covered?", 0.4),
        ("my policy number is 4 5 6", 1.6),
        ("I was driving and", 1.6),
        ("it was um", 1.6),
        ("", 1.6),
        ("yes I think so maybe", 1.0),
    ],
)
def test_endpointing_waits_longer_after_unfinished_speech(transcript: str, expected: float) -> None:
    detector = EndpointingTurnDetector(TurnSettings(min_delay_s=0.4, max_delay_s=1.6))
    assert isinstance(detector, TurnDetector)
    assert detector.silence_needed_s(transcript) == pytest.approx(expected)


def test_endpointing_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="min_delay_s must not exceed max_delay_s"):
        EndpointingTurnDetector(TurnSettings(min_delay_s=2, max_delay_s=1))


def test_runtime_offers_the_builtin_turn_detector(make_config: Callable[..., LoadedConfig]) -> None:
    runtime = Runtime(make_config(), load_entry_points=False)
    detector = runtime.providers.create("turn_detector", "endpointing", {"max_delay_s": 2.0})
    assert detector.silence_needed_s("and") == 2.0
