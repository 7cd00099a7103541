"""pytest fixtures for the test kit, registered through the ``pytest11`` entry point ``artagent``.

Every fake shares the test's :class:`~artagent.testing.VirtualClock`; its defaults are a
plausible call (about 200 ms to a final transcript, 300 ms to the first model token, 150 ms to
the first audio) and every setting is a plain attribute a test may change before the run.
Scenarios run with ``virtual_clock.run(...)`` from a plain (non-async) test function.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from artagent.testing.channel import FakeChannel
from artagent.testing.clock import VirtualClock
from artagent.testing.fakes import FakeSTT, FakeTTS, FakeTurnDetector, FakeVAD
from artagent.testing.model import FakeModel


@pytest.fixture
def virtual_clock() -> Iterator[VirtualClock]:
    """A fresh clock at virtual time 0 with its own event loop, closed after the test."""
    with VirtualClock() as clock:
        yield clock


@pytest.fixture
def fake_channel(virtual_clock: VirtualClock) -> FakeChannel:
    """A media channel whose caller the test scripts with ``say()``, ``silence()``, ``leave()``."""
    return FakeChannel(virtual_clock)


@pytest.fixture
def fake_vad(virtual_clock: VirtualClock) -> FakeVAD:
    """An energy VAD: tone frames are speech (probability 1.0), silence frames are not."""
    return FakeVAD(clock=virtual_clock)


@pytest.fixture
def fake_stt(virtual_clock: VirtualClock) -> FakeSTT:
    """A recogniser with no utterances scripted yet (set ``fake_stt.utterances``)."""
    return FakeSTT(virtual_clock)


@pytest.fixture
def fake_tts(virtual_clock: VirtualClock) -> FakeTTS:
    """A 16 kHz synthesiser: 60 ms of tone per character, first audio after 150 ms."""
    return FakeTTS(virtual_clock)


@pytest.fixture
def fake_model(virtual_clock: VirtualClock) -> FakeModel:
    """A model with no replies scripted yet (set ``fake_model.responses``)."""
    return FakeModel(virtual_clock)


@pytest.fixture
def fake_turn_detector() -> FakeTurnDetector:
    """A turn detector asking for 500 ms of silence after anything."""
    return FakeTurnDetector()
