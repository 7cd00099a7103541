"""The load benchmark's sweep as Markdown tables (one per system) and as a plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLUMNS = (
    ("workers", "workers"),
    ("calls", "calls"),
    ("server_cpu_pct", "server CPU %"),
    ("calls_per_core", "calls/core"),
    ("server_us_per_frame", "server µs/frame"),
    ("inbound_lag_p99_ms", "inbound lag p99 ms"),
    ("reply_p50_ms", "reply p50 ms"),
    ("reply_p95_ms", "reply p95 ms"),
    ("overhead_p99_ms", "overhead p99 ms"),
    ("barge_in_p99_ms", "barge-in p99 ms"),
    ("barge_in_after_vad_p99_ms", "after VAD p99 ms"),
    ("late_frames", "late frames"),
    ("rss_per_call_mb", "MB/call"),
    ("bus_lag_p99_ms", "bus lag p99 ms"),
    ("generator_cpu_per_call_pct", "generator %/call"),
    ("generator_tick_lag_p99_ms", "generator lag p99 ms"),
    ("calls_failed", "failed calls"),
    ("claims", "claims recorded"),
    ("holds", "holds"),
)
NAMES = {
    "fake": "ARTAgent, profile fake, webrtc VAD",
    "fake_silero": "ARTAgent, profile fake, Silero VAD",
    "pipecat": "Pipecat bot, same fake services, Silero VAD",
    "local": "ARTAgent, profile local (Silero, faster-whisper, Piper), one call",
}


LABELS = {"fake": "ARTAgent webrtc", "fake_silero": "ARTAgent Silero", "pipecat": "Pipecat Silero"}


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1 else f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def tables(rows: list[dict[str, Any]], limits: dict[str, float]) -> str:
    """One table per system, in the order measured."""
    out = [
        "### The sweep",
        "",
        f"A load holds when inbound lag p99 ≤ {limits['inbound_lag_p99_ms']:g} ms, no agent frame "
        f"arrived late, barge-in p99 ≤ {limits['barge_in_p99_ms']:g} ms (the VAD's detection "
        "counted as the 60 ms of speech the engine waits for: 'after VAD' + 60) and no call failed. "
        "Latencies are from the callers' side (reply: speech end to first agent audio; overhead: "
        "reply less 1,090 ms of configured hangover and provider latency); CPU is the server "
        "processes' (Redis included) over the measured window, and per caller frame received. "
        "A generator lag p99 of more than a few ms means the callers, not the server, fell "
        "behind (their frames and readings are late): the machine is out of cores. "
        "The plot: docs/performance.png.",
    ]
    for system in dict.fromkeys(r["system"] for r in rows):
        out += ["", f"#### {NAMES.get(system, system)}", ""]
        out.append("| " + " | ".join(title for _, title in COLUMNS) + " |")
        out.append("|" + "---|" * len(COLUMNS))
        for row in (r for r in rows if r["system"] == system):
            cells = {**row, "claims": row.get("events", {}).get("claim_recorded")}
            out.append("| " + " | ".join(_cell(cells.get(key)) for key, _ in COLUMNS) + " |")
    return "\n".join(out)


def plot(rows: list[dict[str, Any]], path: Path, floor_ms: float = 1090.0) -> None:
    """Reply latency p50/p95 and server CPU against concurrent calls, one line per system and
    worker count."""
    try:
        import matplotlib
    except ImportError:
        print("   (matplotlib is not installed: no plot; pip install matplotlib)")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (latency, cpu) = plt.subplots(1, 2, figsize=(12, 4.5))
    series: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        if row["system"] != "local":
            series.setdefault((row["system"], row["workers"]), []).append(row)
    for (system, workers), points in series.items():
        points.sort(key=lambda r: r["calls"])
        label = f"{LABELS.get(system, system)}, {workers} worker{'s' if workers > 1 else ''}"
        x = [r["calls"] for r in points]
        line = latency.plot(x, [r["reply_p50_ms"] for r in points], marker="o", label=f"{label} p50")[0]
        latency.plot(x, [r["reply_p95_ms"] for r in points], marker="x", linestyle="--",
                     color=line.get_color(), label=f"{label} p95")  # fmt: skip
        cpu.plot(x, [r["server_cpu_pct"] for r in points], marker="o", color=line.get_color(), label=label)
        broken = [r for r in points if not r["holds"]]
        latency.scatter([r["calls"] for r in broken], [r["reply_p50_ms"] for r in broken], s=120,
                        facecolors="none", edgecolors="red")  # fmt: skip
    ticks = sorted({r["calls"] for r in rows if r["system"] != "local"})
    for axis in (latency, cpu):
        axis.set_xscale("log", base=2)
        axis.set_xticks(ticks, [str(t) for t in ticks])
        axis.minorticks_off()
        axis.set_xlabel("concurrent calls")
        axis.grid(True, alpha=0.3)
    latency.set_ylim(bottom=0)
    latency.axhline(floor_ms, color="grey", linestyle=":", label=f"configured latencies ({floor_ms:,.0f} ms)")
    latency.set_ylabel("caller speech end to first agent audio (ms)")
    latency.set_title("Reply latency (red circle: limits broken)")
    cpu.set_ylabel("server CPU (% of one core)")
    cpu.set_title("Server CPU")
    latency.legend(fontsize=7)
    cpu.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
