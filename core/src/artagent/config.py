"""runtime.toml, decoded into typed Structs.

Unknown keys and wrong types are errors naming their dotted key path. Secrets never appear in
the file: a key ending in ``_env`` names the environment variable that holds the secret, and a
missing variable is an error naming that key. Each plugin's ``[plugins.<name>]`` table is kept raw
here and decoded by the plugin's own schema once the plugin is loaded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import msgspec

__all__ = [
    "AgentsConfig",
    "BusConfig",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "HistoryConfig",
    "LoadedConfig",
    "LogLevel",
    "MissingSecret",
    "ModesConfig",
    "ObservabilityConfig",
    "OutboxConfig",
    "RuntimeConfig",
    "ServerConfig",
    "SessionConfig",
    "decode_section",
    "load_config",
    "parse_config",
]

S = TypeVar("S", bound=msgspec.Struct)

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Positive = Annotated[int, msgspec.Meta(gt=0)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
Probability = Annotated[float, msgspec.Meta(ge=0, le=1)]


class _Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class RuntimeConfig(_Section):
    data_dir: str = ".artagent"
    """Where embedded state lives (Redis data, outbox spill file); relative to runtime.toml."""
    disable_plugins: list[str] = msgspec.field(default_factory=list)
    """Entry-point names of installed plugins not to load."""
    strict_plugins: bool = False
    """Refuse to start when a plugin fails to load, instead of starting without it."""
    worker_name: str = ""
    """This process's name on the bus (consumer names); empty: host name and process id."""
    heartbeat_ttl_s: Annotated[float, msgspec.Meta(ge=1)] = 15.0
    """This worker's entry in the live-worker registry (its active calls, which the deployment's
    active-call count sums) expires this long after its last heartbeat; it beats every third
    of it and whenever a call starts or ends."""


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    """Interface the HTTP/WebSocket server binds to."""
    port: Port = 8080
    """TCP port of the HTTP/WebSocket server (0: any free port)."""
    drain_timeout_s: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    """On SIGTERM, how long active calls may go on before they are ended politely."""
    loop: Literal["auto", "uvloop", "asyncio"] = "auto"
    """The event loop: ``uvloop`` (libuv, in C: about a sixth less CPU per call), ``asyncio``
    (the standard library's), or ``auto``: uvloop where it is installed (not on Windows)."""
    api_token_env: str = ""
    """Environment variable holding the bearer token the operator and read APIs require (call
    history, analytics, claims, plugins, agents, /metrics); empty: those routes are open."""
    metrics_token_env: str = ""
    """Environment variable holding a token that opens ``/metrics`` and the analytics summary
    only (counts, for a scraper or an autoscaler); the API token opens them too."""


class OutboxConfig(_Section):
    max_queue: Positive = 100_000
    """Events held in memory before the oldest are moved to the spill file."""
    batch_size: Positive = 512
    """Events written to Redis in one pipelined round trip."""
    spill_file: str = "outbox.sqlite3"
    """Append-only spill file (SQLite), relative to data_dir; replayed in order on reconnect."""
    retry_max_s: PositiveFloat = 1.0
    """Longest wait between reconnection attempts while Redis is unreachable."""


class BusConfig(_Section):
    redis_url: str = "embedded"
    """'embedded' starts a private Redis under data_dir; else a redis://, rediss:// or unix:// URL."""
    redis_password_env: str | None = None
    """Name of the environment variable holding the Redis password, if one is needed."""
    redis_auth: Literal["password", "entra"] = "password"
    """How to sign in to Redis: ``password`` (the one of ``redis_password_env``, or none) or
    ``entra`` (a Microsoft Entra ID token from azure-identity's DefaultAzureCredential, renewed
    before it expires, with the identity's object id as the user name: Azure Managed Redis)."""
    stream: str = "artagent:events"
    """Redis Stream that carries every event."""
    stream_maxlen: Positive = 1_000_000
    """Approximate cap on the stream's length; the oldest entries are trimmed past it."""
    consume_batch: Positive = 1024
    """Entries a subscriber reads in one XREADGROUP."""
    claim_idle_ms: Positive = 30_000
    """Entries pending this long (a crashed consumer's) are reclaimed with XAUTOCLAIM."""
    dedup_window_s: Positive = 3_600
    """How long a consumer group remembers event ids to drop redelivered duplicates."""
    consume_linger_ms: NonNegativeInt = 100
    """After a batch smaller than ``consume_batch``, how long a subscriber waits before it
    reads again, so that a busy worker reads fewer, larger batches; it adds up to this much to
    the bus lag (0: read again at once)."""
    outbox: OutboxConfig = msgspec.field(default_factory=OutboxConfig)


class SpeechConfig(_Section):
    threshold: Probability = 0.5
    """VAD probability at or above which a frame counts as speech."""
    release: Probability = 0.35
    """Probability below which a frame counts as silence again (hysteresis)."""
    stop_ms: PositiveFloat = 240.0
    """Silence that ends a stretch of speech (shorter pauses and breaths do not)."""


class TurnConfig(_Section):
    min_delay_s: NonNegativeFloat = 0.4
    """Silence that ends the caller's turn after a complete sentence."""
    max_delay_s: NonNegativeFloat = 1.6
    """Silence that ends it after an unfinished one ("and", "um", digits being read)."""


class BargeInConfig(_Section):
    enabled: bool = True
    """Caller speech interrupts the agent; false: the agent always finishes what it says."""
    min_speech_ms: PositiveFloat = 60.0
    """Caller speech that counts as started (and interrupts the agent); shorter clicks do not."""
    false_interruption_s: PositiveFloat = 1.5
    """Caller speech that has yielded no words this long after it started is a false interruption."""
    fillers: list[str] = msgspec.field(default_factory=list)
    """Words that do not interrupt (e.g. "uh-huh"); non-empty: the agent pauses on caller speech and
    stops only once a word not in this list is recognised, else it goes on."""


class ModesConfig(_Section):
    scenarios: dict[str, str] = msgspec.field(default_factory=dict)
    """Scenario name -> the mode its calls run in (``pipeline`` or a realtime mode's name)."""
    numbers: dict[str, str] = msgspec.field(default_factory=dict)
    """Called number (E.164) -> mode; takes precedence over ``scenarios``."""


class SessionConfig(_Section):
    mode: str = "pipeline"
    """How calls run when no ``[session.modes]`` rule matches: ``pipeline`` (VAD, STT, the
    agents' model routers, TTS) or the name of a realtime speech-to-speech mode a plugin
    registered (``voicelive``)."""
    modes: ModesConfig = msgspec.field(default_factory=ModesConfig)
    vad: str = ""
    """Provider names, as registered by plugins; empty: the one provider of that kind installed."""
    stt: str = ""
    tts: str = ""
    model: str = ""
    turn_detector: str = "endpointing"
    language: str = ""
    """Language passed to the recogniser (e.g. "en"); empty: the provider's default."""
    greeting: str = "Hello, how can I help you today?"
    resume_greeting: str = "Sorry about that. Where were we?"
    apology: str = "Sorry, I had a problem there. Could you say that again?"
    farewell: str = "Thank you for calling. Goodbye."
    idle_reprompt: str = "Are you still there?"
    idle_reprompt_s: PositiveFloat = 8.0
    idle_hangup_s: PositiveFloat = 20.0
    max_duration_s: PositiveFloat = 3600.0
    tool_timeout_s: PositiveFloat = 10.0
    """A tool call taking longer is abandoned; the model is told it timed out."""
    max_tool_rounds: Annotated[int, msgspec.Meta(ge=1, le=20)] = 4
    """Tool rounds a model may make in one turn before the apology."""
    tool_filler: str = "One moment, please."
    """Said when a turn's tools take longer than ``tool_filler_s``; empty: nothing."""
    tool_filler_s: PositiveFloat = 2.0
    transfer_failed: str = "Sorry, I could not transfer you right now. Let's carry on."
    """Said when the channel could not hand the call to a human; the agent carries on."""
    lead_ms: Annotated[float, msgspec.Meta(ge=0, le=1000)] = 60.0
    """Agent audio sent ahead of real time (what a barge-in flush throws away)."""
    state_ttl_s: PositiveFloat = 86_400.0
    """How long a call's state stays in Redis after its last turn."""
    lease_s: Annotated[float, msgspec.Meta(ge=1)] = 30.0
    """A worker's hold on a call; another worker may resume the call once it lapses."""
    speech: SpeechConfig = msgspec.field(default_factory=SpeechConfig)
    turn: TurnConfig = msgspec.field(default_factory=TurnConfig)
    barge_in: BargeInConfig = msgspec.field(default_factory=BargeInConfig)


class AgentsConfig(_Section):
    scenario: str = ""
    """The scenario answering calls when no rule below matches; empty: the only scenario
    installed (none installed: one plain assistant with ``[session] model``)."""
    channels: dict[str, str] = msgspec.field(default_factory=dict)
    """Channel name (``acs``, ``browser``, ``cli``...) -> scenario."""
    numbers: dict[str, str] = msgspec.field(default_factory=dict)
    """Called phone number (E.164) -> scenario; takes precedence over ``channels``."""
    routers: list[str] = msgspec.field(default_factory=lambda: ["openai", "flows"])
    """Model routers in order of preference for agents whose YAML names none (or whose own are
    unavailable): the first installed and available answers."""
    routing: dict[str, list[str]] = msgspec.field(default_factory=dict)
    """Agent name -> the model routers that answer it, in order of preference (the first
    installed and available answers): the agent's whole list, in place of its YAML's
    ``model.router`` and of ``routers``. Each agent and router must be installed."""
    admin_token_env: str = ""
    """Environment variable holding the token that ``PUT /api/v1/agents/{name}`` requires;
    empty: agents cannot be changed at run time."""
    timezone: str = ""
    """IANA time zone of the calls' wall clock ("yesterday at 3 pm", today's date in prompts);
    empty: this machine's local time zone."""


class HistoryConfig(_Section):
    store: str = "sqlite"
    """The call history store, by the name it was registered under ("sqlite" is built in, plugins
    add others such as "cosmos"); empty: keep no call history."""
    group: str = "history"
    """Consumer group of the history subscriber on the event stream."""
    retention_days: PositiveFloat = 30.0
    """Calls whose last event is older than this are deleted (and expire by TTL where the store has one)."""
    purge_interval_s: PositiveFloat = 3600.0
    """How often the retention pass deletes expired calls."""
    max_events: Annotated[int, msgspec.Meta(ge=0)] = 1000
    """Raw events a call document keeps (the first half and the last half of the call's); the
    transcript, tool calls and other lists keep everything. Bounds a long call's document."""


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class ObservabilityConfig(_Section):
    otlp_endpoint: str = ""
    """Where traces are sent over OTLP/HTTP (protobuf): a collector's base URL (``/v1/traces``
    is added) or a full URL ending in ``/v1/traces``. Empty: nothing is traced or exported."""
    otlp_headers_env: str = ""
    """Environment variable holding extra export headers, ``key=value`` pairs separated by
    commas (a hosted backend's API key); empty: none."""
    service_name: str = "artagent"
    """``service.name`` of the exported traces."""
    sample_ratio: Probability = 1.0
    """Share of calls traced (decided once per call; everything a traced call causes is traced)."""
    log_level: LogLevel = "INFO"
    """Level of every logger not named in ``log_levels`` (the runtime's, plugins', uvicorn's)."""
    log_levels: dict[str, LogLevel] = msgspec.field(default_factory=dict)
    """Logger name -> level, e.g. ``{ "artagent.bus" = "DEBUG" }``; a name covers its children."""
    log_format: Literal["auto", "json", "text"] = "auto"
    """``json``: one JSON object per line; ``text``: for people; ``auto``: text on a terminal,
    else JSON."""
    log_transcripts: bool = False
    """Log what the caller and the agents said (logger ``artagent.transcripts``, DEBUG)."""


class Config(_Section):
    runtime: RuntimeConfig = msgspec.field(default_factory=RuntimeConfig)
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    bus: BusConfig = msgspec.field(default_factory=BusConfig)
    session: SessionConfig = msgspec.field(default_factory=SessionConfig)
    agents: AgentsConfig = msgspec.field(default_factory=AgentsConfig)
    history: HistoryConfig = msgspec.field(default_factory=HistoryConfig)
    observability: ObservabilityConfig = msgspec.field(default_factory=ObservabilityConfig)
    plugins: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    """One table per plugin, decoded by that plugin's own schema."""


class ConfigIssue(msgspec.Struct, frozen=True):
    path: str
    """Dotted key path, such as ``bus.outbox.max_queue`` (empty for the file as a whole)."""
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class MissingSecret(ConfigIssue, frozen=True, kw_only=True):
    """A ``*_env`` key naming an environment variable that is not set."""

    variable: str


class ConfigError(Exception):
    """One or more problems in a configuration, each naming its key."""

    def __init__(self, issues: list[ConfigIssue], source: str = "") -> None:
        self.issues = issues
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(where + "; ".join(str(i) for i in issues))


class LoadedConfig(msgspec.Struct, frozen=True, kw_only=True):
    """A decoded configuration plus what was resolved around it."""

    config: Config
    base_dir: Path
    """Directory relative paths in the file are resolved against."""
    source: str = "<defaults>"
    secrets: dict[str, str] = msgspec.field(default_factory=dict)
    """Secret values by the dotted path of the ``*_env`` key that named them. Never log these."""

    @property
    def data_dir(self) -> Path:
        return (self.base_dir / self.config.runtime.data_dir).resolve()

    def secret(self, path: str) -> str | None:
        return self.secrets.get(path)

    def __repr__(self) -> str:
        # The generated repr would print every secret value; show only which keys have one.
        masked = {path: "***" for path in self.secrets}
        return (
            f"LoadedConfig(config={self.config!r}, base_dir={self.base_dir!r}, "
            f"source={self.source!r}, secrets={masked!r})"
        )

    __str__ = __repr__


_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`$")


def issue_from_validation(error: msgspec.MsgspecError, prefix: str = "") -> ConfigIssue:
    """Turn msgspec's ``... - at `$.a.b[0]` `` message into a dotted-path issue."""
    match = _AT.match(str(error))
    message = match.group("msg") if match else str(error)
    path = (match.group("path") or "") if match else ""
    parts = [p for p in (prefix, path.lstrip(".")) if p]
    unknown = _UNKNOWN.match(message)
    if unknown:
        parts.append(unknown.group("field"))
        message = "unknown key"
    return ConfigIssue(".".join(parts).replace(".[", "["), message)


def decode_section(raw: Mapping[str, Any], schema: type[S], prefix: str) -> S:
    """Decode one table (a plugin's, for instance) with its schema; errors carry ``prefix``."""
    try:
        return msgspec.convert(raw, schema)
    except msgspec.ValidationError as exc:
        raise ConfigError([issue_from_validation(exc, prefix)]) from None


def _env_keys(obj: Any, prefix: str) -> list[tuple[str, str]]:
    """(dotted path, variable name) for every set ``*_env`` key below ``obj``."""
    found: list[tuple[str, str]] = []
    if isinstance(obj, msgspec.Struct):
        items: Any = ((f, getattr(obj, f)) for f in obj.__struct_fields__)
    elif isinstance(obj, Mapping):
        items = obj.items()
    else:
        return found
    for key, value in items:
        path = f"{prefix}.{key}" if prefix else str(key)
        if str(key).endswith("_env") and isinstance(value, str) and value:
            found.append((path, value))
        else:
            found.extend(_env_keys(value, path))
    return found


def resolve_secrets(obj: Any, environ: Mapping[str, str], prefix: str = "") -> dict[str, str]:
    """Read every secret the configuration names; a missing variable is an error on its key."""
    secrets: dict[str, str] = {}
    issues: list[ConfigIssue] = []
    for path, variable in _env_keys(obj, prefix):
        value = environ.get(variable)
        if value is None:
            message = f"environment variable {variable} is not set"
            issues.append(MissingSecret(path, message, variable=variable))
        else:
            secrets[path] = value
    if issues:
        raise ConfigError(issues)
    return secrets


def _check_semantics(config: Config) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    url = config.bus.redis_url
    if url != "embedded" and not url.startswith(("redis://", "rediss://", "unix://")):
        issues.append(
            ConfigIssue("bus.redis_url", "must be 'embedded' or a redis://, rediss:// or unix:// URL")
        )
    endpoint = config.observability.otlp_endpoint
    if endpoint and not endpoint.startswith(("http://", "https://")):
        issues.append(ConfigIssue("observability.otlp_endpoint", "must be an http:// or https:// URL"))
    if config.bus.redis_auth == "entra":
        if url == "embedded":
            message = "'entra' signs in to an external Redis; set bus.redis_url"
            issues.append(ConfigIssue("bus.redis_auth", message))
        if config.bus.redis_password_env:
            issues.append(
                ConfigIssue("bus.redis_auth", "'entra' signs in with a token: remove bus.redis_password_env")
            )
    return issues + _check_session(config.session)


def _check_session(s: SessionConfig) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    if s.idle_reprompt_s >= s.idle_hangup_s:
        issues.append(ConfigIssue("session.idle_reprompt_s", "must be less than session.idle_hangup_s"))
    if s.turn.min_delay_s > s.turn.max_delay_s:
        issues.append(ConfigIssue("session.turn.min_delay_s", "must not exceed session.turn.max_delay_s"))
    if s.speech.release > s.speech.threshold:
        issues.append(ConfigIssue("session.speech.release", "must not exceed session.speech.threshold"))
    return issues


MOVED = {
    "logging": "the [logging] table is now part of [observability]: write its level as "
    "observability.log_level (see docs/configuration.md#observability)",
}
"""Tables that no longer exist -> what to write instead (better than "unknown key")."""


def _explain_moved(issue: ConfigIssue) -> ConfigIssue:
    if issue.message == "unknown key" and issue.path in MOVED:
        return ConfigIssue(issue.path, MOVED[issue.path])
    return issue


def _name_plugin_table(issue: ConfigIssue, text: str) -> ConfigIssue:
    """msgspec writes a dict key as ``[...]``: name the ``plugins`` entry that is not a table."""
    if not issue.path.startswith("plugins[...]"):
        return issue
    plugins = msgspec.toml.decode(text).get("plugins")
    bad = [name for name, value in plugins.items() if not isinstance(value, dict)]
    if not bad:
        return issue
    return ConfigIssue(issue.path.replace("plugins[...]", f"plugins.{bad[0]}", 1), issue.message)


def parse_config(
    text: str,
    *,
    base_dir: Path,
    source: str = "<string>",
    environ: Mapping[str, str] | None = None,
) -> LoadedConfig:
    """Decode TOML text; raises :class:`ConfigError` listing what is wrong and where."""
    try:
        config = msgspec.toml.decode(text, type=Config)
    except msgspec.ValidationError as exc:
        issue = _explain_moved(_name_plugin_table(issue_from_validation(exc), text))
        raise ConfigError([issue], source) from None
    except msgspec.DecodeError as exc:
        raise ConfigError([ConfigIssue("", f"not valid TOML: {exc}")], source) from None
    issues = _check_semantics(config)
    try:
        secrets = resolve_secrets(config, os.environ if environ is None else environ)
    except ConfigError as exc:
        issues.extend(exc.issues)
        secrets = {}
    if issues:
        raise ConfigError(issues, source)
    return LoadedConfig(config=config, base_dir=base_dir, source=source, secrets=secrets)


def load_config(path: str | Path | None, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """Load a runtime.toml; ``None`` means the built-in defaults (embedded everything)."""
    if path is None:
        return parse_config("", base_dir=Path.cwd(), source="<defaults>", environ=environ)
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigIssue("", f"cannot read {file}: {exc.strerror}")], str(file)) from None
    return parse_config(text, base_dir=file.resolve().parent, source=str(file), environ=environ)
