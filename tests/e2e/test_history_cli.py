"""``artagent calls`` and ``artagent calls show`` as a user runs them: real processes reading the
SQLite history a server (here: the store itself) wrote under the configured data_dir."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from _history_kit import insurance_call, short_call
from artagent.history.sqlite import DEFAULT_FILE, SqliteHistoryStore

ARTAGENT = str(Path(sys.executable).parent / "artagent")
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture
def config(data_dir: Path) -> Path:
    path = data_dir / "runtime.toml"
    path.write_text(f'[runtime]\ndata_dir = "{data_dir / "state"}"\n')

    async def fill() -> None:
        store = SqliteHistoryStore(data_dir / "state" / DEFAULT_FILE)
        await store.start()
        await store.apply(insurance_call("call-42", NOW - dt.timedelta(hours=5)))
        await store.apply(short_call("c-new", NOW - dt.timedelta(minutes=10), outcome="escalated"))
        await store.close()

    asyncio.run(fill())
    return path


def artagent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ARTAGENT, *args], capture_output=True, text=True, timeout=60, check=False)


def test_calls_lists_the_history_as_a_table_and_as_json(config: Path) -> None:
    table = artagent("calls", "--config", str(config))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    header = ["STARTED", "(UTC)", "CALL", "CHANNEL", "DURATION", "TURNS", "OUTCOME", "AGENTS"]
    assert lines[0].split() == header
    assert "c-new" in lines[1] and "escalated" in lines[1]
    assert "call-42" in lines[2] and "17.0 s" in lines[2] and "auth, claims" in lines[2]
    assert table.stderr == ""

    page = json.loads(artagent("calls", "--json", "--config", str(config)).stdout)
    assert [c["call_id"] for c in page["calls"]] == ["c-new", "call-42"] and page["next_cursor"] is None
    recent = json.loads(artagent("calls", "--json", "--since", "1h", "--config", str(config)).stdout)
    assert [c["call_id"] for c in recent["calls"]] == ["c-new"]
    resolved = json.loads(artagent("calls", "--json", "--outcome=resolved", "--config", str(config)).stdout)
    assert [c["call_id"] for c in resolved["calls"]] == ["call-42"]
    first = json.loads(artagent("calls", "--json", "--limit", "1", "--config", str(config)).stdout)
    rest = artagent("calls", "--json", "--cursor", first["next_cursor"], "--config", str(config))
    assert [c["call_id"] for c in json.loads(rest.stdout)["calls"]] == ["call-42"]


def test_calls_show_prints_the_transcript_and_the_document(config: Path) -> None:
    shown = artagent("calls", "show", "call-42", "--config", str(config))
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "call call-42  (acs, scenario insurance)  ended: resolved (caller_hangup)" in out
    assert "caller  I want to file a claim." in out and "claims  I am sorry to  [interrupted]" in out
    assert 'lookup_policy({"policy": "P-100"}) -> ok {"holder": "Ana"} (42.5 ms)' in out
    assert "handoff" in out and "auth -> claims: claim intent" in out
    doc = json.loads(artagent("calls", "show", "call-42", "--json", "--config", str(config)).stdout)
    assert len(doc["transcript"]) == 7 and doc["usage"]["prompt_tokens"] == 530


def test_bad_options_and_unknown_calls_are_errors_naming_what_is_wrong(config: Path) -> None:
    missing = artagent("calls", "show", "nope", "--config", str(config))
    assert (missing.returncode, missing.stderr.strip()) == (1, "error: no call 'nope' in the history")
    since = artagent("calls", "--since", "last tuesday", "--config", str(config))
    assert since.returncode == 2 and since.stderr.startswith("error: --since: 'last tuesday' is neither")
    cursor = artagent("calls", "--cursor", "garbage", "--config", str(config))
    assert cursor.returncode == 2 and "--cursor" in cursor.stderr
    limit = artagent("calls", "--limit", "0", "--config", str(config))
    assert limit.returncode == 2 and "--limit" in limit.stderr


def test_an_unknown_store_is_a_config_error_naming_the_key(data_dir: Path) -> None:
    path = data_dir / "bad.toml"
    path.write_text(f'[runtime]\ndata_dir = "{data_dir}"\n[history]\nstore = "mongo"\n')
    result = artagent("calls", "--config", str(path))
    assert result.returncode == 1
    assert "history.store: no store named 'mongo' (cosmos, sqlite)" in result.stderr
