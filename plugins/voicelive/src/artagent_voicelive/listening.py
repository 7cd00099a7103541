"""The caller's side of a realtime call: the service's VAD and transcription as the pipeline's
events and history.

The service decides when the caller starts and stops talking (``speech_started`` /
``speech_stopped``, positions on the audio it was sent) and commits the turn as a user item; its
transcription of that item arrives later, often while the agent already answers. So the turn
takes its place in the history when it is committed and gets its words when they come: the
history reads in the order things were said.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from artagent.events import ErrorOccurred, Event, SpeechStarted, SpeechStopped, TranscriptionReceived
from artagent.session.latency import TurnTimeline
from artagent.session.playout import Clock
from artagent.session.state import Message, SessionState

from artagent_voicelive.audio import CallerAudio
from artagent_voicelive.events import (
    BufferCommitted,
    TranscriptionCompleted,
    TranscriptionDelta,
    TranscriptionFailed,
)
from artagent_voicelive.events import SpeechStarted as ServiceSpeechStarted
from artagent_voicelive.events import SpeechStopped as ServiceSpeechStopped

__all__ = ["Listener", "Listening"]

E = TypeVar("E", bound=Event)


class Listener(Protocol):
    """What the caller's side needs of its call (the session)."""

    clock: Clock

    @property
    def agent(self) -> str: ...

    @property
    def state(self) -> SessionState: ...

    def emit(self, event_type: type[E], **fields: Any) -> E: ...

    def at(self) -> float: ...

    def state_changed(self) -> None: ...

    def turn_ended(self, timeline: TurnTimeline) -> None: ...


class Listening:
    """The caller's turns as the service hears them."""

    def __init__(self, host: Listener, audio: CallerAudio) -> None:
        self._host, self.audio = host, audio
        self._starts: dict[str, float] = {}
        self._ends: dict[str, float] = {}
        self._timelines: dict[str, TurnTimeline] = {}
        self._partials: dict[str, str] = {}
        self._places: dict[str, int] = {}
        """User item -> its index in the history, until its transcript arrives."""

    async def speech_started(self, event: ServiceSpeechStarted) -> None:
        self._starts[event.item_id] = event.audio_start_ms
        self._host.emit(SpeechStarted, offset_ms=event.audio_start_ms)

    async def speech_stopped(self, event: ServiceSpeechStopped) -> None:
        now = self._host.clock.now()
        arrived = self.audio.arrived_at(event.audio_end_ms)
        timeline = TurnTimeline(speech_end=arrived if arrived is not None else now, end_of_turn=now)
        self._ends[event.item_id] = event.audio_end_ms
        self._timelines[event.item_id] = timeline
        start = self._starts.get(event.item_id, event.audio_end_ms)
        self._host.emit(SpeechStopped, offset_ms=event.audio_end_ms, duration_ms=event.audio_end_ms - start)
        self._host.turn_ended(timeline)

    async def committed(self, event: BufferCommitted) -> None:
        """The caller's turn is over: it takes its place in the history (words to come)."""
        state = self._host.state
        state.turn += 1
        self._places[event.item_id] = len(state.history)
        state.history.append(Message(role="user", content="", agent=self._host.agent, at=self._host.at()))
        self._host.state_changed()

    async def partial(self, event: TranscriptionDelta) -> None:
        text = self._partials.get(event.item_id, "") + event.delta
        self._partials[event.item_id] = text
        self._host.emit(TranscriptionReceived, text=text.strip(), is_final=False, **self._span(event.item_id))

    async def final(self, event: TranscriptionCompleted) -> None:
        text = event.transcript.strip()
        self._partials.pop(event.item_id, None)
        timeline = self._timelines.pop(event.item_id, None)
        if timeline is not None:
            timeline.final_transcript = self._host.clock.now()
        self._host.emit(TranscriptionReceived, text=text, is_final=True, **self._span(event.item_id))
        place = self._places.pop(event.item_id, None)
        history = self._host.state.history
        if place is not None and place < len(history) and history[place].role == "user":
            old = history[place]
            history[place] = Message(role="user", content=text, agent=old.agent, at=old.at)
        else:  # transcribed without a commit we saw: it goes last
            history.append(Message(role="user", content=text, agent=self._host.agent, at=self._host.at()))
        self._host.state_changed()

    async def failed(self, event: TranscriptionFailed) -> None:
        """The caller's words could not be transcribed; the model heard them all the same."""
        self._partials.pop(event.item_id, None)
        self._host.emit(
            ErrorOccurred,
            kind=event.error.code or event.error.type or "transcription_failed",
            message=event.error.message,
            stage="transcription",
            recoverable=True,
        )

    def _span(self, item_id: str) -> dict[str, float]:
        span: dict[str, float] = {}
        if item_id in self._starts:
            span["start_ms"] = self._starts[item_id]
        if item_id in self._ends:
            span["end_ms"] = self._ends[item_id]
        return span
