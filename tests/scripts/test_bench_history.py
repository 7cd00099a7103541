"""A tiny real run of the `history` benchmark: every figure it declares comes back, SQLite and
the Cosmos DB store (against the tests' fake endpoint) alike."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))  # the scripts are not a package; import them as bench.py does

import bench_history  # noqa: E402


def test_a_short_run_reports_every_figure_for_both_stores() -> None:
    parser = argparse.ArgumentParser()
    bench_history.add_arguments(parser)
    figures = bench_history.run(parser.parse_args(["--calls", "3", "--turns", "4", "--reads", "3"]))
    assert set(figures) == set(bench_history.FIGURES)
    assert figures["events"] == 3 * (3 + 4 * 4) and figures["calls"] == 3
    for name in ("events_per_s", "cosmos_events_per_s", "get_p50_ms", "cosmos_get_p50_ms"):
        assert figures[name] > 0, name
