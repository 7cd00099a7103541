"""A tiny real run of the `openai` benchmark: the router against the fake server in a child
process reports every figure, and counts every chunk it streamed."""

from __future__ import annotations

import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))  # the scripts are not a package; import them as bench.py does

import bench  # noqa: E402


def test_tiny_openai_run_reports_every_figure() -> None:
    module = bench.load("openai", SCRIPTS / "bench_openai.py")
    args = bench.options(module, "openai", ["--replies", "5", "--calls", "3", "--chunks", "10"])
    figures = module.run(args)
    assert set(figures) == set(module.FIGURES)
    assert (figures["calls"], figures["chunks_per_reply"], figures["sequential_replies"]) == (3, 10, 5)
    assert 0 < figures["first_token_p50_ms"] <= figures["first_token_p99_ms"]
    assert figures["chunks_per_s"] > 0 and figures["cpu_us_per_chunk"] > 0
