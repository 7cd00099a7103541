"""A tiny real run of the `azure_speech` benchmark: every figure it declares comes back."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))  # the scripts are not a package; import them as bench.py does

import bench_azure_speech  # noqa: E402


@pytest.mark.timeout(120)
def test_a_short_run_reports_every_figure() -> None:
    parser = argparse.ArgumentParser()
    bench_azure_speech.add_arguments(parser)
    args = parser.parse_args(["--calls", "2", "--utterances", "2", "--syntheses", "3"])
    figures = bench_azure_speech.run(args)
    assert set(figures) == set(bench_azure_speech.FIGURES)
    assert figures["finals"] == 4 and figures["syntheses"] == 3 and figures["calls"] == 2
    assert 0 < figures["final_delay_p50_ms"] <= figures["final_delay_p95_ms"]
    assert figures["bridge_items_per_s"] > 0
