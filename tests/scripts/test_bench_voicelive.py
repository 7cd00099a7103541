"""A tiny real run of the `voicelive` benchmark: every figure it declares comes back, for both
rates the caller's audio can be sent at, and the mode's share of a turn is what is left of the
total once the service's own time is taken out. The figures docs/voicelive.md names exist."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))  # the scripts are not a package; import them as bench.py does

import bench  # noqa: E402
import bench_voicelive  # noqa: E402


@pytest.mark.timeout(180)
def test_a_short_run_reports_every_figure_at_both_rates() -> None:
    args = bench.options(bench_voicelive, "voicelive", ["--calls", "2", "--turns", "2", "--service-ms", "40"])

    figures = bench_voicelive.run(args)

    assert set(figures) == set(bench_voicelive.FIGURES)
    assert figures["turns"] == 4 and figures["calls"] == 2
    for rate in ("24k", "16k"):
        assert figures[f"service_p50_ms_{rate}"] >= 40  # the fake's own delay, as it measured it
        assert figures[f"total_p50_ms_{rate}"] >= 200 + 40  # the VAD's silence and the service's delay
        share, share_p95 = figures[f"overhead_p50_ms_{rate}"], figures[f"overhead_p95_ms_{rate}"]
        assert 0 < share <= share_p95 < figures[f"total_p50_ms_{rate}"]
        assert figures[f"cpu_ms_per_call_s_{rate}"] > 0


def test_the_figures_the_voicelive_page_names_are_the_benchmarks() -> None:
    page = (ROOT / "docs" / "voicelive.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`voicelive\.(\w+)`", page))

    assert {"overhead_p50_ms_24k", "overhead_p50_ms_16k"} <= named
    assert named <= set(bench_voicelive.FIGURES)
