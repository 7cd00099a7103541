"""The test kit: virtual time and scripted fakes of every provider, for deterministic tests.

A scenario builds a :class:`VirtualClock`, hands it to the fakes and to the component under
test, and drives the whole call with :meth:`VirtualClock.run`: a minute of conversation takes
milliseconds and produces the same timeline on every run. The pytest plugin
(:mod:`artagent.testing.plugin`, registered through the ``pytest11`` entry point) offers each
of these as a fixture.
"""

from artagent.testing.audio import FRAME_BYTES, SAMPLE_RATE, frame_rms, silence_frame, tone, tone_frame
from artagent.testing.channel import FakeChannel, SentFrame
from artagent.testing.clock import VirtualClock, VirtualTimeDeadlock, VirtualTimeLoop
from artagent.testing.fakes import (
    FakeProviderError,
    FakeSTT,
    FakeSTTStream,
    FakeTTS,
    FakeTurnDetector,
    FakeVAD,
    FakeVADStream,
    Synthesis,
)
from artagent.testing.harness import CallHarness, RecordingPublisher
from artagent.testing.model import FakeModel, ModelCall, ModelItem, ScriptedResponse
from artagent.testing.records import MemoryRecordStore

__all__ = [
    "FRAME_BYTES",
    "SAMPLE_RATE",
    "CallHarness",
    "FakeChannel",
    "FakeModel",
    "FakeProviderError",
    "FakeSTT",
    "FakeSTTStream",
    "FakeTTS",
    "FakeTurnDetector",
    "FakeVAD",
    "FakeVADStream",
    "MemoryRecordStore",
    "ModelCall",
    "ModelItem",
    "RecordingPublisher",
    "ScriptedResponse",
    "SentFrame",
    "Synthesis",
    "VirtualClock",
    "VirtualTimeDeadlock",
    "VirtualTimeLoop",
    "frame_rms",
    "silence_frame",
    "tone",
    "tone_frame",
]
