"""A tiny real run of the `voicelive` benchmark: every figure it declares comes back, and the
mode's share of a turn is what is left of the total once the service's own time is taken out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))  # the scripts are not a package; import them as bench.py does

import bench_voicelive  # noqa: E402


@pytest.mark.timeout(120)
def test_a_short_run_reports_every_figure() -> None:
    parser = argparse.ArgumentParser()
    bench_voicelive.add_arguments(parser)
    args = parser.parse_args(["--calls", "2", "--turns", "2", "--service-ms", "40"])
    figures = bench_voicelive.run(args)
    assert set(figures) == set(bench_voicelive.FIGURES)
    assert figures["turns"] == 4 and figures["calls"] == 2 and figures["input_rate"] == 24000
    assert figures["service_p50_ms"] >= 40  # the fake's own delay, as it measured it
    assert figures["total_p50_ms"] >= 200 + 40  # the VAD's silence and the service's delay at least
    assert 0 < figures["overhead_p50_ms"] <= figures["overhead_p95_ms"] < figures["total_p50_ms"]
    assert figures["cpu_ms_per_call_s"] > 0
