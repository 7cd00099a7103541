"""The product as a user runs it: `artagent serve`, then the CLI against it, all real processes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent
ARTAGENT = str(BIN / "artagent")
READY = re.compile(r"ARTAgent is ready: (http://[\d.]+:\d+)/")


def _write_config(folder: Path) -> Path:
    config = folder / "runtime.toml"
    config.write_text(
        f'[runtime]\ndata_dir = "{folder / "state"}"\n'
        '[server]\nhost = "127.0.0.1"\nport = 0\n'
        '[observability]\nlog_level = "WARNING"\n'
    )
    return config


class Server:
    def __init__(self, proc: subprocess.Popen[str], url: str, config: Path) -> None:
        self.proc, self.url, self.config = proc, url, config


@pytest.fixture
def server(data_dir: Path) -> Iterator[Server]:
    config = _write_config(data_dir)
    started = time.monotonic()
    proc = subprocess.Popen(
        [ARTAGENT, "serve", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=data_dir,
    )  # fmt: skip
    url = None
    assert proc.stdout is not None
    for line in proc.stdout:
        match = READY.search(line)
        if match:
            url = match.group(1)
            break
    assert url, "the server never printed its URL"
    # Readiness within 15 s of the command starting, as the README promises.
    deadline = started + 15
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/readiness").status_code == 200:
            break
        time.sleep(0.1)
    assert httpx.get(f"{url}/readiness").status_code == 200
    yield Server(proc, url, config)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def _events(call_id: str) -> list[dict[str, object]]:
    latency = {"end_of_turn_ms": 500.0, "stt_ms": 120.0, "model_first_token_ms": 300.0,
               "tts_first_audio_ms": 90.0, "total_ms": 640.0}  # fmt: skip
    return [
        {"type": "call_started", "call_id": call_id, "seq": 1, "channel": "cli"},
        {"type": "agent_response_generated", "call_id": call_id, "seq": 2, "agent": "auth",
         "text": "Hello", "turn": 1, "latency": latency},
        {"type": "playback_interrupted", "call_id": call_id, "seq": 3, "agent": "auth", "heard_ms": 800},
        {"type": "agent_handoff", "call_id": call_id, "seq": 4, "from_agent": "auth", "to_agent": "claims"},
        {"type": "call_ended", "call_id": call_id, "seq": 5, "reason": "hangup", "outcome": "resolved",
         "duration_ms": 42000},
    ]  # fmt: skip


def test_readiness_plugins_and_asyncapi(server: Server) -> None:
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/readiness").json()["loop"] == "uvloop"  # [server] loop = "auto"
    plugins = httpx.get(f"{server.url}/api/v1/plugins").json()
    assert "analytics" in [p["name"] for p in plugins["plugins"]]
    doc = httpx.get(f"{server.url}/asyncapi").json()
    assert doc["asyncapi"].startswith("3.")


def test_plugins_json_lists_analytics(data_dir: Path) -> None:
    config = _write_config(data_dir)
    out = subprocess.run([ARTAGENT, "plugins", "--json", "--config", str(config)],
                         capture_output=True, text=True, check=True, timeout=60)  # fmt: skip
    listing = json.loads(out.stdout)
    analytics = next(p for p in listing["plugins"] if p["name"] == "analytics")
    assert analytics["distribution"] == "artagent-analytics"
    assert analytics["registered"]["register_routes"] == ["/api/v1/analytics"]


def test_published_events_reach_tail_and_analytics(server: Server) -> None:
    tail = subprocess.Popen(
        [ARTAGENT, "events", "tail", "--json", "--config", str(server.config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert tail.stderr is not None and tail.stdout is not None
        assert "following" in tail.stderr.readline()  # tail is attached before we publish
        lines = "\n".join(json.dumps(e) for e in _events("e2e-call-1")) + "\n"
        pub = subprocess.run([ARTAGENT, "events", "publish", "--config", str(server.config)],
                             input=lines, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert pub.returncode == 0, pub.stderr
        seen = [json.loads(tail.stdout.readline()) for _ in range(5)]
        assert [e["type"] for e in seen] == [e["type"] for e in _events("e2e-call-1")]
        assert {e["call_id"] for e in seen} == {"e2e-call-1"}
        assert all(e["event_id"] for e in seen)
    finally:
        tail.send_signal(signal.SIGINT)
        assert tail.wait(timeout=10) == 0

    deadline = time.monotonic() + 10
    summary: dict[str, object] = {}
    while time.monotonic() < deadline:
        summary = httpx.get(f"{server.url}/api/v1/analytics/summary").json()
        if summary["calls_ended"] == 1:
            break
        time.sleep(0.1)
    assert summary["calls_started"] == 1 and summary["calls_ended"] == 1
    assert summary["turns"] == 1 and summary["barge_ins"] == 1 and summary["handoffs"] == 1
    call = httpx.get(f"{server.url}/api/v1/analytics/calls/e2e-call-1").json()
    assert call["outcome"] == "resolved" and call["latency"]["p50_ms"] == 640.0


def test_publish_rejects_invalid_events_naming_the_field(server: Server) -> None:
    wrong = ({"type": "call_started", "call_id": 7}, {"type": "nope", "call_id": "x"})
    bad = "\n".join(json.dumps(e) for e in wrong)
    pub = subprocess.run([ARTAGENT, "events", "publish", "--config", str(server.config)],
                         input=bad, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert pub.returncode == 1
    assert "line 1" in pub.stderr and "$.call_id" in pub.stderr
    assert "line 2" in pub.stderr and "nothing published" in pub.stderr


def test_sigterm_stops_cleanly_and_stops_embedded_redis(server: Server) -> None:
    pid_file = Path(server.config).parent / "state" / "redis.pid"
    redis_pid = int(pid_file.read_text())
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=20) == 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(redis_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the embedded Redis outlived the server")


def test_the_server_logs_json_lines_with_query_strings_masked(data_dir: Path) -> None:
    config = _write_config(data_dir)
    config.write_text(
        config.read_text()
        .replace('log_level = "WARNING"', 'log_level = "INFO"\nlog_format = "json"')
        .replace("port = 0\n", 'port = 0\nloop = "asyncio"\n')
    )
    proc = subprocess.Popen(
        [ARTAGENT, "serve", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=data_dir,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        match = READY.search(proc.stdout.readline())
        assert match, "the server never printed its URL"
        url = match.group(1)
        httpx.get(f"{url}/health")
        assert httpx.get(f"{url}/readiness").json()["loop"] == "asyncio"
        httpx.get(f"{url}/api/v1/calls?token=s3cr3t-t0ken&call=c1")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    records = [json.loads(line) for line in stderr.splitlines()]  # every line is one JSON object
    access = [r["message"] for r in records if r["logger"] == "uvicorn.access"]
    assert any('"GET /health HTTP/1.1" 200' in message for message in access)
    assert any("/api/v1/calls?token=***&call=c1" in message for message in access)
    assert "s3cr3t-t0ken" not in stderr
    assert {"ts", "level", "logger", "message"} <= set(records[0])
