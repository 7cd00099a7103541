"""Starting calls: a channel hands over a call's audio, the launcher runs its session.

One :class:`SessionLauncher` per worker (``runtime.sessions``), built from ``[session]`` and the
providers plugins registered. A channel adapter calls :meth:`SessionLauncher.run` with the
call's id and its :class:`~artagent.providers.MediaChannel`; the launcher

1. admits the call on this worker (refused while the worker drains),
2. claims the call's lease and loads its saved state when the call is being resumed,
3. builds its session in the call's mode (:mod:`artagent.session.modes`): the pipeline's
   :class:`Session` (opening the call's VAD and recogniser), or a realtime mode's,
4. runs it, saving the state after every turn, and at the end writes the last state and
   releases the lease.

Providers are built once per worker and shared by its calls; a provider's per-call state lives
in what ``open()`` returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import msgspec
from redis.asyncio import Redis

from artagent.agents.layer import AgentsLayer
from artagent.agents.routing import RoutingError
from artagent.bus.outbox import CallEmitter, Publisher
from artagent.calls import ActiveCalls
from artagent.config import SessionConfig
from artagent.events import Event
from artagent.observability.calltrace import CallTrace
from artagent.observability.logs import call_logging
from artagent.observability.metrics import CallMetrics, CallTelemetry
from artagent.observability.tracing import Tracing
from artagent.providers import (
    MediaChannel,
    ProviderKind,
    ProviderRegistry,
    SupportsWarmUp,
)
from artagent.session.conversation import Conversation, SingleAgent
from artagent.session.engine import Session, SessionSettings
from artagent.session.latency import SessionMetrics
from artagent.session.modes import PIPELINE, CallSession, ModeSelector, RealtimeCall, RealtimeMode
from artagent.session.persistence import StateKeeper
from artagent.session.playout import Clock, LoopClock
from artagent.session.resolution import resolve_providers, session_settings
from artagent.session.state import SessionState, SessionStore
from artagent.session.tools import ToolRunner

log = logging.getLogger(__name__)

__all__ = [
    "RESUME_SEQ_GAP",
    "SessionLauncher",
    "SessionUnavailableError",
    "WarmUpError",
    "resolve_providers",
]

SAMPLE_RATE = 16_000
RESUME_SEQ_GAP = 10_000
"""A resumed call numbers its events from its last saved ``seq`` plus this much, above whatever
its first worker emitted after its last save."""


class SessionUnavailableError(RuntimeError):
    """This worker cannot run calls: a provider kind has nothing installed to serve it."""


class WarmUpError(RuntimeError):
    """A provider's ``warm_up`` failed; the message names the provider (``kind:name``)."""


class SessionLauncher:
    """Builds and runs this worker's sessions (``runtime.sessions``)."""

    def __init__(
        self,
        config: SessionConfig,
        registry: ProviderRegistry,
        *,
        publisher: Publisher,
        redis: Redis,
        calls: ActiveCalls,
        worker: str,
        metrics: SessionMetrics | None = None,
        clock: Clock | None = None,
        agents: AgentsLayer | None = None,
        tracing: Tracing | None = None,
        call_metrics: CallMetrics | None = None,
    ) -> None:
        """``tracing``: the worker's tracer (none: calls are not traced); ``call_metrics``: the
        counters of what calls emit (handoffs, errors, tools...)."""
        self.config = config
        self.agents = agents
        self.names, self.missing = resolve_providers(config, registry)
        self._providers: dict[ProviderKind, Any] = {
            kind: registry.create(kind, name, self._provider_settings(kind))
            for kind, name in self.names.items()
        }
        selector = agents.selector if agents is not None else None
        self.modes = ModeSelector(config, registry.names("realtime"), selector)
        self._realtime: dict[str, RealtimeMode] = {
            name: registry.create("realtime", name) for name in sorted(self.modes.used - {PIPELINE})
        }
        self.store = SessionStore(redis, ttl_s=config.state_ttl_s)
        self._publisher, self._calls, self._worker = publisher, calls, worker
        self._metrics, self._clock = metrics, clock or LoopClock()
        self._tracing, self._call_metrics = tracing or Tracing(), call_metrics

    def _provider_settings(self, kind: ProviderKind) -> Mapping[str, Any]:
        if kind == "turn_detector":
            return {"min_delay_s": self.config.turn.min_delay_s, "max_delay_s": self.config.turn.max_delay_s}
        return {}

    def _conversation(
        self,
        call_id: str,
        channel: str,
        settings: SessionSettings,
        tools: ToolRunner | None,
        scenario: str | None,
        caller: str | None,
        callee: str | None,
        routed: bool,
    ) -> Conversation:
        model = self._providers.get("model")
        if self.agents is None or (tools is not None and scenario is None):
            if model is None and routed:
                raise SessionUnavailableError(
                    f"cannot start call {call_id!r}: no model provider is installed"
                )
            return SingleAgent(
                model,
                system_prompt=settings.system_prompt,
                greeting=settings.greeting,
                resume_greeting=settings.resume_greeting,
                tools=tools,
            )
        try:
            return self.agents.conversation(
                channel=channel,
                scenario=scenario,
                caller=caller,
                callee=callee,
                resume_greeting=settings.resume_greeting,
                greeting=settings.greeting,
                system_prompt=settings.system_prompt,
                model=model,
                routed=routed,
            )
        except RoutingError as exc:
            raise SessionUnavailableError(f"cannot start call {call_id!r}: {exc}") from None

    def settings_for(self, channel: str) -> SessionSettings:
        """The engine settings ``[session]`` gives a call on ``channel``."""
        return session_settings(self.config, channel=channel, worker=self._worker)

    @property
    def status(self) -> str:
        """ "ok", or why calls cannot start here."""
        return "; ".join(self.missing.values()) or "ok"

    def provider(self, kind: ProviderKind) -> Any:
        """The provider of ``kind`` this worker's calls use (built once, shared by them).

        Raises :class:`SessionUnavailableError` saying why when none is installed.
        """
        if kind not in self._providers:
            raise SessionUnavailableError(self.missing.get(kind, f"no {kind} provider"))
        return self._providers[kind]

    def warming_up(self) -> list[str]:
        """``kind:name`` of each selected provider that has a ``warm_up`` to await."""
        return [
            f"{kind}:{self.names[kind]}"
            for kind, provider in self._providers.items()
            if isinstance(provider, SupportsWarmUp)
        ]

    async def warm_up(self) -> None:
        """Await every selected provider's ``warm_up``, one after the other (they compete for
        the same cores); the error of one that fails names it."""
        for kind, provider in self._providers.items():
            if isinstance(provider, SupportsWarmUp):
                try:
                    await provider.warm_up()
                except Exception as exc:
                    raise WarmUpError(f"{kind}:{self.names[kind]}: {type(exc).__name__}: {exc}") from exc

    async def run(
        self,
        call_id: str,
        channel: MediaChannel,
        *,
        channel_name: str,
        resume: bool = True,
        settings: SessionSettings | None = None,
        tools: ToolRunner | None = None,
        scenario: str | None = None,
        caller: str | None = None,
        callee: str | None = None,
        conversation: Conversation | None = None,
        speech: Mapping[ProviderKind, Any] | None = None,
        observer: Callable[[Event], None] | None = None,
        on_start: Callable[[CallSession], None] | None = None,
    ) -> CallSession:
        """Run the call to its end and return its finished session (the pipeline's
        :class:`Session`, or a realtime mode's: ``[session] mode`` and ``[session.modes]``).

        ``speech`` replaces providers of ``[session]`` for this call by kind (``artagent chat``
        runs on text: no VAD, recogniser or voice); ``observer`` sees every event of the call as
        it is published (a channel showing them live); ``on_start`` gets the session before it
        runs (to submit typed turns to it).

        The call's agents: ``conversation`` when given, else the scenario asked for by name
        (``scenario``, from the browser page for instance), else the one ``[agents]`` chooses
        for the channel and the called number (``callee``).

        ``resume``: when the call has a saved state (another worker drove it and went away), go
        on from it. A call given ``speech`` (a text call) always runs in the pipeline.
        Raises :class:`SessionUnavailableError` when a provider kind the pipeline needs is missing,
        :class:`~artagent.calls.DrainingError` while the worker shuts down, and
        :class:`~artagent.session.persistence.CallOwnedElsewhereError` while another worker
        holds the call; in each case before anything is said to the caller.
        """
        mode = PIPELINE  # a text call (``speech``) has no audio for a realtime model
        if speech is None:
            agents = tools is None or scenario is not None  # else one plain assistant
            mode = self.modes.choose(channel=channel_name, scenario=scenario, callee=callee, agents=agents)
        missing = [reason for kind, reason in self.missing.items() if kind not in (speech or {})]
        if missing and mode == PIPELINE:
            raise SessionUnavailableError(f"cannot start call {call_id!r}: {'; '.join(missing)}")
        settings = settings or session_settings(self.config, channel=channel_name, worker=self._worker)
        if caller is not None or callee is not None:
            settings = msgspec.structs.replace(settings, caller=caller, callee=callee)
        if conversation is None:
            conversation = self._conversation(
                call_id, channel_name, settings, tools, scenario, caller, callee, mode == PIPELINE
            )
        holder: list[CallSession] = []

        async def end(reason: str) -> None:
            if holder:
                await holder[0].end(reason)

        keeper = StateKeeper(self.store, self._worker, lease_s=self.config.lease_s)
        self._calls.admit(call_id, end)
        try:
            with self._observed(call_id, channel_name, mode, conversation, keeper) as trace:
                state = await keeper.acquire(call_id, channel_name, resume=resume)
                try:
                    providers = {**self._providers, **(speech or {})}
                    emitter = self._emitter(state, observer, CallTelemetry(trace, self._call_metrics))
                    parts = _CallParts(
                        channel, keeper, settings, conversation, providers, emitter, caller, callee, trace
                    )
                    pipeline = mode == PIPELINE
                    session = await self._build(parts) if pipeline else self._open_realtime(mode, parts)
                    holder.append(session)
                    if on_start is not None:
                        on_start(session)
                    await session.run()
                finally:
                    await keeper.close()
        finally:
            await self._calls.finished(call_id)
        return session

    @contextmanager
    def _observed(
        self, call_id: str, channel: str, mode: str, conversation: Conversation, keeper: StateKeeper
    ) -> Iterator[CallTrace]:
        """The call's trace and log context: every record logged and every span started inside
        (in this task and in the tasks the call starts) belongs to the call."""
        trace = self._tracing.call(
            call_id, self._clock, **{"artagent.channel": channel, "artagent.mode": mode}
        )

        def turn() -> int:
            return keeper.state.turn if keeper.state is not None else 0

        with trace.active(), call_logging(call_id, agent=lambda: conversation.agent, turn=turn):
            yield trace

    def _emitter(
        self, state: SessionState, observer: Callable[[Event], None] | None, telemetry: CallTelemetry
    ) -> CallEmitter:
        """The call's events, numbered above anything a dead worker may have emitted."""
        publisher = _Tee(self._publisher, observer) if observer is not None else self._publisher
        start_seq = state.seq + RESUME_SEQ_GAP if state.history else 0
        return CallEmitter(state.call_id, publisher, start_seq=start_seq, observer=telemetry)

    def _open_realtime(self, mode: str, parts: _CallParts) -> CallSession:
        """The call's session in the realtime mode ``mode``."""
        state = parts.keeper.state
        assert state is not None
        call = RealtimeCall(
            channel=parts.channel,
            emitter=parts.emitter,
            clock=self._clock,
            settings=parts.settings,
            state=state,
            conversation=parts.conversation,
            on_state_changed=parts.keeper.changed,
            tts=parts.providers.get("tts"),
            metrics=self._metrics,
            language=self.config.language or None,
            caller=parts.caller,
            callee=parts.callee,
        )
        return self._realtime[mode].open(call)

    async def _build(self, parts: _CallParts) -> Session:
        """The call's pipeline session."""
        keeper, providers, settings = parts.keeper, parts.providers, parts.settings
        state = keeper.state
        assert state is not None
        language = self.config.language or None

        async def open_stt() -> Any:
            return await providers["stt"].open(sample_rate=SAMPLE_RATE, language=language)

        def open_vad() -> Any:
            return providers["vad"].open(sample_rate=SAMPLE_RATE)

        return Session(
            channel=parts.channel,
            vad=open_vad(),
            stt=await open_stt(),
            open_stt=open_stt,
            open_vad=open_vad,
            tts=providers["tts"],
            turn_detector=providers["turn_detector"],
            emitter=parts.emitter,
            clock=self._clock,
            settings=settings,
            metrics=self._metrics,
            state=state,
            conversation=parts.conversation,
            on_state_changed=keeper.changed,
            trace=parts.trace,
        )


@dataclass(frozen=True)
class _CallParts:
    """What the launcher has set up for one call, whichever mode runs it."""

    channel: MediaChannel
    keeper: StateKeeper
    settings: SessionSettings
    conversation: Conversation
    providers: Mapping[ProviderKind, Any]
    emitter: CallEmitter
    caller: str | None
    callee: str | None
    trace: CallTrace


class _Tee:
    """Publishes to the outbox and shows each event to an observer (which must not raise)."""

    def __init__(self, publisher: Publisher, observer: Callable[[Event], None]) -> None:
        self._publisher, self._observer = publisher, observer

    def publish(self, event: Event) -> None:
        self._publisher.publish(event)
        try:
            self._observer(event)
        except Exception:  # a broken observer must not break the call
            log.exception("event observer failed on %s", event.type_tag())
