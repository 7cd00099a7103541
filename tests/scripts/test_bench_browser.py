"""A tiny real run of the `browser` benchmark: page-like clients against the server in a child
process report every figure, with one stop and one measured answer per typed turn."""

from __future__ import annotations

import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))  # the scripts are not a package; import them as bench.py does

import bench  # noqa: E402


def test_tiny_browser_run_reports_every_figure() -> None:
    module = bench.load("browser", SCRIPTS / "bench_browser.py")
    figures = module.run(bench.options(module, "browser", ["--calls", "2", "--turns", "1"]))
    assert set(figures) == set(module.FIGURES)
    assert (figures["calls"], figures["turns"]) == (2, 2)
    assert 0 < figures["stop_after_speech_p50_ms"] <= figures["stop_after_speech_p95_ms"]
    assert 0 < figures["typed_first_audio_p50_ms"] <= figures["typed_first_audio_p95_ms"]
    assert 0 < figures["frame_gap_p99_ms"] <= figures["frame_gap_max_ms"]
    assert figures["server_cpu_ms_per_call_s"] > 0
