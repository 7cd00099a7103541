"""runtime.toml: decoding, errors that name their key, secrets, and the documented default file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from artagent.config import (
    BusConfig,
    Config,
    ConfigError,
    LoadedConfig,
    OutboxConfig,
    decode_section,
    load_config,
    parse_config,
)
from artagent.plugins import PluginHost

REPO_ROOT = Path(__file__).resolve().parents[2]
REPO_RUNTIME_TOML = REPO_ROOT / "runtime.toml"


def parse(text: str, environ: dict[str, str] | None = None) -> LoadedConfig:
    return parse_config(text, base_dir=Path("/srv/agent"), source="test.toml", environ=environ or {})


def issues_of(text: str, environ: dict[str, str] | None = None) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        parse(text, environ)
    assert str(info.value).startswith("test.toml: ")
    return [(issue.path, issue.message) for issue in info.value.issues]


# -- decoding ------------------------------------------------------------------------------
def test_empty_file_gives_the_embedded_defaults() -> None:
    loaded = parse("")
    cfg = loaded.config
    assert cfg == Config()
    assert cfg.bus.redis_url == "embedded"
    assert cfg.server.host == "127.0.0.1"
    assert cfg.server.port == 8080
    assert cfg.bus.outbox.max_queue == 100_000
    assert loaded.secrets == {}
    assert loaded.data_dir == Path("/srv/agent/.artagent")


def test_no_file_means_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    loaded = load_config(None, environ={})
    assert loaded.config == Config()
    assert loaded.source == "<defaults>"
    assert loaded.data_dir == (tmp_path / ".artagent").resolve()


def test_values_are_decoded_into_typed_sections() -> None:
    cfg = parse(
        '[server]\nport = 9000\nhost = "0.0.0.0"\n'
        '[bus]\nredis_url = "rediss://cache.example:6380/0"\n'
        "[bus.outbox]\nbatch_size = 64\nretry_max_s = 0.5\n"
        '[runtime]\ndisable_plugins = ["analytics"]\nstrict_plugins = true\n'
        '[observability]\nlog_level = "DEBUG"\nlog_levels = { "artagent.bus" = "WARNING" }\n'
        '[plugins.analytics]\ngroup = "a2"\n'
    ).config
    assert cfg.server.port == 9000
    assert cfg.server.host == "0.0.0.0"
    assert cfg.bus.redis_url == "rediss://cache.example:6380/0"
    assert cfg.bus.outbox == OutboxConfig(batch_size=64, retry_max_s=0.5)
    assert cfg.runtime.disable_plugins == ["analytics"]
    assert cfg.runtime.strict_plugins is True
    assert cfg.observability.log_level == "DEBUG"
    assert cfg.observability.log_levels == {"artagent.bus": "WARNING"}
    assert cfg.plugins == {"analytics": {"group": "a2"}}


def test_repo_runtime_toml_decodes_and_states_the_defaults() -> None:
    loaded = load_config(REPO_RUNTIME_TOML, environ={})
    cfg = loaded.config
    # The file documents the built-in defaults: apart from plugin tables and the names of the
    # embedded speech providers it selects, it changes nothing.
    assert (cfg.session.vad, cfg.session.stt, cfg.session.tts) == ("silero", "whisper", "piper")
    session = msgspec.structs.replace(cfg.session, vad="", stt="", tts="")
    assert msgspec.structs.replace(cfg, plugins={}, session=session) == Config()
    assert loaded.data_dir == REPO_ROOT / ".artagent"
    # Every plugin table it carries decodes with the installed plugin's own schema, and states
    # that plugin's defaults too.
    host = PluginHost()
    host.load_entry_points()
    decoded = host.decode_configs(cfg.plugins)
    for name in cfg.plugins:
        schema = type(decoded[name])
        assert decoded[name] == schema(), f"[plugins.{name}] in runtime.toml differs from the defaults"


# -- errors name their dotted key ----------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("nonsense = 1", "nonsense"),
        ("[nonsense]\nx = 1", "nonsense"),
        ("[server]\nprot = 8080", "server.prot"),
        ("[bus.outbox]\nnonsense = 1", "bus.outbox.nonsense"),
        ("[bus]\noutbox = { max_queue = 5, nonsense = 1 }", "bus.outbox.nonsense"),
    ],
)
def test_unknown_key_is_an_error_naming_its_path(text: str, path: str) -> None:
    assert issues_of(text) == [(path, "unknown key")]


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ('[server]\nport = "8080"', "server.port", "Expected `int`, got `str`"),
        ("[runtime]\ndata_dir = 5", "runtime.data_dir", "Expected `str`, got `int`"),
        ('[runtime]\nstrict_plugins = "yes"', "runtime.strict_plugins", "Expected `bool`, got `str`"),
        ("[runtime]\ndisable_plugins = [1]", "runtime.disable_plugins[0]", "Expected `str`, got `int`"),
        ('[observability]\nlog_level = "TRACE"', "observability.log_level", "Invalid enum value 'TRACE'"),
        ('[observability]\nlog_format = "xml"', "observability.log_format", "Invalid enum value 'xml'"),
        ("[observability]\nsample_ratio = 2", "observability.sample_ratio", "Expected `float` <= 1.0"),
        ("bus = 3", "bus", "Expected `object`, got `int`"),
        ("[plugins]\nanalytics = 1", "plugins.analytics", "Expected `object`, got `int`"),
    ],
)
def test_wrong_type_names_its_path(text: str, path: str, message: str) -> None:
    assert issues_of(text) == [(path, message)]


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ("[server]\nport = 65536", "server.port", "<= 65535"),
        ("[server]\nport = -1", "server.port", ">= 0"),
        ("[bus.outbox]\nmax_queue = 0", "bus.outbox.max_queue", ">= 1"),
        ("[bus.outbox]\nretry_max_s = 0.0", "bus.outbox.retry_max_s", "> 0"),
        ("[bus]\nstream_maxlen = -5", "bus.stream_maxlen", ">= 1"),
    ],
)
def test_out_of_range_values_name_their_path(text: str, path: str, message: str) -> None:
    [(got_path, got_message)] = issues_of(text)
    assert got_path == path
    assert message in got_message


def test_port_bounds_are_accepted() -> None:
    assert parse("[server]\nport = 0").config.server.port == 0
    assert parse("[server]\nport = 65535").config.server.port == 65535


@pytest.mark.parametrize("url", ["http://cache:6379", "localhost:6379", "redis:/x", ""])
def test_bad_redis_url_scheme_names_bus_redis_url(url: str) -> None:
    [(path, message)] = issues_of(f'[bus]\nredis_url = "{url}"')
    assert path == "bus.redis_url"
    assert "redis://" in message


@pytest.mark.parametrize("url", ["embedded", "redis://h:6379/0", "rediss://h:6380", "unix:///tmp/r.sock"])
def test_good_redis_urls_are_accepted(url: str) -> None:
    assert parse(f'[bus]\nredis_url = "{url}"').config.bus.redis_url == url


def test_invalid_toml_is_a_clear_error() -> None:
    [(path, message)] = issues_of("[server\nport = 1")
    assert path == ""
    assert message.startswith("not valid TOML:")


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="cannot read") as info:
        load_config(missing, environ={})
    assert info.value.source == str(missing)


# -- secrets -------------------------------------------------------------------------------
PASSWORD_TOML = '[bus]\nredis_url = "redis://cache:6379"\nredis_password_env = "AA_TEST_REDIS_PW"\n'


def test_missing_env_var_names_the_key_and_the_variable() -> None:
    [(path, message)] = issues_of(PASSWORD_TOML, environ={"OTHER": "x"})
    assert path == "bus.redis_password_env"
    assert "AA_TEST_REDIS_PW" in message


def test_missing_env_var_in_a_plugin_table_names_its_key() -> None:
    issues = issues_of('[plugins.speech]\napi_key_env = "AA_TEST_SPEECH_KEY"\n' + PASSWORD_TOML)
    assert sorted(path for path, _ in issues) == ["bus.redis_password_env", "plugins.speech.api_key_env"]
    assert any("AA_TEST_SPEECH_KEY" in message for _, message in issues)


def test_all_problems_are_reported_together() -> None:
    issues = issues_of('[bus]\nredis_url = "http://x"\nredis_password_env = "AA_TEST_REDIS_PW"\n')
    assert {path for path, _ in issues} == {"bus.redis_url", "bus.redis_password_env"}


def test_present_env_var_is_resolved_and_never_printed() -> None:
    secret = "s3cr3t-Value-41"
    loaded = parse(PASSWORD_TOML, environ={"AA_TEST_REDIS_PW": secret})
    assert loaded.secrets == {"bus.redis_password_env": secret}
    assert loaded.secret("bus.redis_password_env") == secret
    assert loaded.config.bus.redis_password_env == "AA_TEST_REDIS_PW"
    for text in (str(loaded), repr(loaded), f"{loaded}", str(loaded.config), repr(loaded.config)):
        assert secret not in text
    assert "bus.redis_password_env" in str(loaded)


def test_process_environment_is_used_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AA_TEST_REDIS_PW", "from-env")
    loaded = parse_config(PASSWORD_TOML, base_dir=Path("/"))
    assert loaded.secret("bus.redis_password_env") == "from-env"


# -- paths ---------------------------------------------------------------------------------
def test_data_dir_is_relative_to_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_dir = tmp_path / "deploy" / "site"
    config_dir.mkdir(parents=True)
    file = config_dir / "runtime.toml"
    file.write_text('[runtime]\ndata_dir = "state/here"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = load_config(file, environ={})
    assert loaded.data_dir == (config_dir / "state" / "here").resolve()
    # ... also when the file itself is named relative to the working directory.
    monkeypatch.chdir(tmp_path)
    assert load_config(Path("deploy/site/runtime.toml"), environ={}).data_dir == loaded.data_dir


def test_absolute_data_dir_stays_absolute(tmp_path: Path) -> None:
    file = tmp_path / "runtime.toml"
    file.write_text('[runtime]\ndata_dir = "/var/lib/artagent"\n')
    assert load_config(file, environ={}).data_dir == Path("/var/lib/artagent")


def test_decode_section_prefixes_plugin_errors() -> None:
    class Settings(msgspec.Struct, forbid_unknown_fields=True):
        rate: int = 1

    assert decode_section({"rate": 3}, Settings, "plugins.x").rate == 3
    with pytest.raises(ConfigError) as info:
        decode_section({"rate": "fast"}, Settings, "plugins.x")
    assert [i.path for i in info.value.issues] == ["plugins.x.rate"]
    with pytest.raises(ConfigError) as info:
        decode_section({"speed": 3}, Settings, "plugins.x")
    assert [(i.path, i.message) for i in info.value.issues] == [("plugins.x.speed", "unknown key")]


# -- the documented runtime.toml stays complete --------------------------------------------
_TABLE = re.compile(r"^\[(?P<name>[A-Za-z0-9_.]+)\]\s*(#.*)?$")
_KEY = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=")
_COMMENTED_KEY = re.compile(r"^#\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*\S")


def _documented_keys() -> tuple[dict[str, bool], list[str]]:
    """Every key of runtime.toml by dotted path (True: set, False: shown commented out), and
    the keys that have no comment on the line directly above them."""
    keys: dict[str, bool] = {}
    undocumented: list[str] = []
    table = ""
    previous = ""
    for raw in REPO_RUNTIME_TOML.read_text().splitlines():
        line = raw.strip()
        if match := _TABLE.match(line):
            table = match.group("name")
            keys[table] = True
        elif match := _KEY.match(line):
            path = f"{table}.{match.group('name')}" if table else match.group("name")
            keys[path] = True
            if not previous.startswith("#"):
                undocumented.append(path)
        elif match := _COMMENTED_KEY.match(line):
            path = f"{table}.{match.group('name')}" if table else match.group("name")
            keys.setdefault(path, False)
        previous = line
    return keys, undocumented


def _struct_paths(struct: type[msgspec.Struct], prefix: str) -> list[str]:
    paths: list[str] = []
    for field in msgspec.structs.fields(struct):
        path = f"{prefix}.{field.name}" if prefix else field.name
        paths.append(path)
        if isinstance(field.type, type) and issubclass(field.type, msgspec.Struct):
            paths.extend(_struct_paths(field.type, path))
    return paths


def test_every_key_in_runtime_toml_has_a_comment_above_it() -> None:
    keys, undocumented = _documented_keys()
    assert "bus.outbox.max_queue" in keys  # the scanner does see nested tables
    assert undocumented == []


def test_every_config_field_appears_in_runtime_toml() -> None:
    keys, _ = _documented_keys()
    expected = [p for p in _struct_paths(Config, "") if p != "plugins"]
    assert "bus.redis_password_env" in expected
    missing = [p for p in expected if p not in keys]
    assert missing == []
    assert any(k.startswith("plugins.") for k in keys), "runtime.toml shows no [plugins.<name>] table"


def test_every_installed_plugin_setting_appears_in_runtime_toml() -> None:
    keys, _ = _documented_keys()
    host = PluginHost()
    host.load_entry_points()
    # With no tables given, each plugin's settings decode to its defaults: their type is the schema.
    defaults: dict[str, Any] = host.decode_configs({})
    assert "analytics" in defaults
    missing = [
        f"plugins.{name}.{field.name}"
        for name, settings in defaults.items()
        if settings is not None
        for field in msgspec.structs.fields(settings)
        if f"plugins.{name}.{field.name}" not in keys
    ]
    assert missing == []


def test_config_structs_reject_unknown_fields_everywhere() -> None:
    # Guards the error-on-unknown-key rule for sections added later.
    for struct in (Config, BusConfig, OutboxConfig, *(
        f.type for f in msgspec.structs.fields(Config) if isinstance(f.type, type)
        and issubclass(f.type, msgspec.Struct)
    )):
        assert struct.__struct_config__.forbid_unknown_fields, struct.__name__


def test_the_old_logging_table_says_where_its_key_went() -> None:
    [(path, message)] = issues_of('[logging]\nlevel = "DEBUG"\n')
    assert path == "logging"
    assert "observability.log_level" in message


def test_an_otlp_endpoint_must_be_an_http_url_and_its_headers_variable_must_be_set() -> None:
    assert issues_of('[observability]\notlp_endpoint = "localhost:4318"\n') == [
        ("observability.otlp_endpoint", "must be an http:// or https:// URL")
    ]
    text = '[observability]\notlp_endpoint = "http://127.0.0.1:4318"\notlp_headers_env = "OTLP_HEADERS"\n'
    assert issues_of(text) == [
        ("observability.otlp_headers_env", "environment variable OTLP_HEADERS is not set")
    ]
    loaded = parse_config(text, base_dir=Path("."), environ={"OTLP_HEADERS": "x-api-key=s3cret"})
    assert loaded.secret("observability.otlp_headers_env") == "x-api-key=s3cret"
