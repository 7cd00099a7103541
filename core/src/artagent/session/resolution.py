"""What ``[session]`` resolves to: the provider of each kind the pipeline is built from, and the
engine's settings for a call on a channel. The launcher does this once per worker (providers)
and once per call (settings)."""

from __future__ import annotations

from artagent.config import ConfigError, ConfigIssue, SessionConfig
from artagent.providers import PIPELINE_KINDS, ProviderKind, ProviderRegistry
from artagent.session.engine import SessionSettings

__all__ = ["resolve_providers", "session_settings"]


def resolve_providers(
    config: SessionConfig, registry: ProviderRegistry
) -> tuple[dict[ProviderKind, str], dict[ProviderKind, str]]:
    """The provider name chosen for each kind, and for each kind with none installed why.

    A name that is not registered, or an empty name with several candidates none of which is
    the one marked as the embedded default (:attr:`ProviderSpec.default`), is a
    :class:`ConfigError` naming the ``session.<kind>`` key.
    """
    chosen: dict[ProviderKind, str] = {}
    missing: dict[ProviderKind, str] = {}
    issues: list[ConfigIssue] = []
    for kind in PIPELINE_KINDS:
        name, installed = getattr(config, kind), registry.names(kind)
        if kind == "model" and not name and len(installed) > 1:
            continue  # agents choose among several routers by [agents] routers
        listed = ", ".join(installed) or "none installed"
        defaults = registry.defaults(kind)
        if name and name not in installed:
            issues.append(ConfigIssue(f"session.{kind}", f"no {kind} provider named {name!r} ({listed})"))
        elif name:
            chosen[kind] = name
        elif len(installed) == 1:
            chosen[kind] = installed[0]
        elif len(defaults) == 1:
            chosen[kind] = defaults[0]
        elif installed:
            issues.append(
                ConfigIssue(f"session.{kind}", f"several {kind} providers installed ({listed}): name one")
            )
        else:
            missing[kind] = f"no {kind} provider is installed (install a speech or agents plugin)"
    if issues:
        raise ConfigError(issues)
    return chosen, missing


def session_settings(config: SessionConfig, *, channel: str, worker: str | None = None) -> SessionSettings:
    """The engine's settings for one call on ``channel``, from ``[session]``."""
    return SessionSettings(
        channel=channel,
        worker=worker,
        greeting=config.greeting,
        resume_greeting=config.resume_greeting,
        apology=config.apology,
        farewell=config.farewell,
        idle_reprompt=config.idle_reprompt,
        idle_reprompt_s=config.idle_reprompt_s,
        idle_hangup_s=config.idle_hangup_s,
        max_duration_s=config.max_duration_s,
        tool_timeout_s=config.tool_timeout_s,
        max_tool_rounds=config.max_tool_rounds,
        tool_filler=config.tool_filler,
        tool_filler_s=config.tool_filler_s,
        transfer_failed=config.transfer_failed,
        lead_ms=config.lead_ms,
        barge_in=config.barge_in.enabled,
        barge_in_min_speech_ms=config.barge_in.min_speech_ms,
        false_interruption_s=config.barge_in.false_interruption_s,
        fillers=tuple(config.barge_in.fillers),
        speech_threshold=config.speech.threshold,
        speech_release=config.speech.release,
        speech_stop_ms=config.speech.stop_ms,
    )
