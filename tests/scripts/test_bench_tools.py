"""The benchmark framework (scripts/bench.py, scripts/_benchlib.py) and a tiny run of `bus`.

Only the machinery is tested here; the figures and their goals live in docs/performance.md.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))  # the scripts are not a package; import them as bench.py does

import _benchlib  # noqa: E402
import bench  # noqa: E402
import bench_bus  # noqa: E402
from _benchlib import MARKER, Figure, goal_met, merge_results, render_markdown, write_docs  # noqa: E402


def record(**figures: float) -> dict[str, Any]:
    return {
        "title": "Example",
        "about": "What the example measures.",
        "machine": {"cpu": "Test CPU 9000", "cores": 2, "usable_cores": 2, "memory_gib": 4.0,
                    "os": "Linux-test", "python": "CPython 3.11.7"},
        "date": "2025-01-02T03:04:05+00:00",
        "command": ".venv/bin/python scripts/bench.py example",
        "figures": figures,
        "figure_info": {
            "rate": {"unit": "events/s", "about": "how fast", "goal": ">= 20000"},
            "p99_us": {"unit": "µs", "about": "how slow at worst", "goal": "< 50"},
            "count": {"unit": "events", "about": "how many"},
        },
    }  # fmt: skip


def test_merge_replaces_only_the_named_benchmark(tmp_path: Path) -> None:
    path = tmp_path / "performance.json"
    merge_results(path, {"bus": record(rate=1.0), "other": record(rate=2.0)})

    merged = merge_results(path, {"bus": record(rate=3.0)})

    on_disk = json.loads(path.read_text())
    assert on_disk == merged
    assert on_disk["bus"]["figures"] == {"rate": 3.0}
    assert on_disk["other"] == record(rate=2.0)


def test_markdown_shows_every_figure_with_unit_goal_and_verdict() -> None:
    md = render_markdown({"example": record(rate=25_000.5, p99_us=61.2, count=10)})

    assert "## `example`: Example" in md
    assert "What the example measures." in md
    assert "Test CPU 9000, 2 cores, 4.0 GiB RAM" in md
    assert "2025-01-02T03:04:05+00:00" in md
    assert "`.venv/bin/python scripts/bench.py example`" in md
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("| `")}
    assert set(rows) == {"`rate`", "`p99_us`", "`count`"}
    assert "25,000" in rows["`rate`"] and "≥ 20,000" in rows["`rate`"] and "| yes |" in rows["`rate`"]
    assert "61.2" in rows["`p99_us`"] and "< 50" in rows["`p99_us`"] and "**no**" in rows["`p99_us`"]
    assert "events |" in rows["`count`"] and "| — |" in rows["`count`"]
    assert "Goals met: 1 of 2." in md


def test_markdown_keeps_the_hand_written_intro(tmp_path: Path) -> None:
    json_path, md_path = tmp_path / "p.json", tmp_path / "p.md"
    md_path.write_text(f"# Our numbers\n\nRead me first.\n\n{MARKER}\n\nstale generated text\n")

    write_docs(json_path, md_path, {"example": record(rate=1.0)})

    text = md_path.read_text()
    assert text.startswith("# Our numbers\n\nRead me first.\n")
    assert "stale generated text" not in text
    assert text.count(MARKER) == 1 and "## `example`" in text


def test_goals_compare_and_bad_goals_are_refused() -> None:
    assert goal_met(">= 20000", 20_000) is True
    assert goal_met("< 50", 50) is False
    assert goal_met("<= 1.5", 1.2) is True
    assert goal_met(None, 3) is None and goal_met("> 1", None) is None
    with pytest.raises(ValueError, match="not '<op> <number>'"):
        Figure("µs", "latency", goal="about 50")


def test_run_one_records_machine_date_command_and_figures(tmp_path: Path) -> None:
    module = tmp_path / "bench_fake.py"
    module.write_text(
        "from _benchlib import Figure\n"
        "TITLE = 'Fake'\nABOUT = '``Counts`` to n.'\n"
        "FIGURES = {'n': Figure('things', 'how many', '>= 2')}\n"
        "def add_arguments(parser):\n    parser.add_argument('--n', type=int, default=1)\n"
        "def run(args):\n    return {'n': args.n}\n"
    )

    entry = bench.run_one("fake", module, ["--n", "3"])

    assert entry["figures"] == {"n": 3}
    assert entry["command"].endswith("scripts/bench.py fake --n 3")
    assert entry["about"] == "`Counts` to n."
    assert entry["figure_info"] == {"n": {"unit": "things", "about": "how many", "goal": ">= 2"}}
    assert dt.datetime.fromisoformat(entry["date"]).tzinfo is not None
    assert {"cpu", "cores", "memory_gib", "os", "python"} <= set(entry["machine"])
    assert bench.missed_goals(entry) == []
    assert entry["revision"] is None or len(entry["revision"]) >= 7


def test_a_benchmark_may_add_details_and_notes_to_its_entry(tmp_path: Path) -> None:
    module = tmp_path / "bench_more.py"
    module.write_text(
        "from _benchlib import Figure\n"
        "TITLE = 'More'\nABOUT = 'More.'\nFIGURES = {'n': Figure('things', 'how many')}\n"
        "def run(args):\n    return {'n': 1}\n"
        "def extra():\n    return {'sweep': [{'calls': 25}], 'notes': '### The sweep'}\n"
    )

    entry = bench.run_one("more", module, [])

    assert entry["sweep"] == [{"calls": 25}]
    assert "### The sweep" in render_markdown({"more": entry})


def test_the_readme_block_is_copied_from_the_json(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    start, end = _benchlib.README_BLOCK
    readme.write_text(f"# Title\n\n{start}\nold text\n{end}\n\nAfter.\n")
    load = record(calls_per_core_fake=312.5, ratio_vs_pipecat=14.0)
    load["machine"] = {"cpu": "AMD EPYC", "usable_cores": 2}

    assert _benchlib.write_readme(readme, {"load": load})

    text = readme.read_text()
    assert "old text" not in text and text.endswith(f"{end}\n\nAfter.\n")
    assert "- **312.5** calls per server core (webrtc VAD" in text
    assert "- **14** times Pipecat's calls per core" in text
    assert "AMD EPYC, 2 cores" in text
    assert _benchlib.write_readme(readme, {})
    assert "Not measured yet" in readme.read_text()
    assert not _benchlib.write_readme(tmp_path / "none.md", {})


def test_cli_lists_benchmarks_and_renders_from_json(tmp_path: Path) -> None:
    json_path, md_path = tmp_path / "p.json", tmp_path / "p.md"
    merge_results(json_path, {"example": record(rate=1.0)})
    script = str(SCRIPTS / "bench.py")

    listed = subprocess.run([sys.executable, script, "--list"], capture_output=True, text=True, check=True)
    subprocess.run(
        [sys.executable, script, "--render", "--json", str(json_path), "--md", str(md_path)], check=True
    )

    assert "bus" in bench.discover()
    assert any(line.startswith("bus ") for line in listed.stdout.splitlines())
    assert "| `rate` | 1 | events/s | ≥ 20,000 | **no** |" in md_path.read_text()
    assert _benchlib.DEFAULT_INTRO.splitlines()[0] in md_path.read_text()


def test_tiny_bus_run_reports_every_figure() -> None:
    args = bench.options(bench_bus, "bus", ["--events", "1500", "--repetitions", "1", "--warmup", "200"])

    figures = bench_bus.run(args)

    assert set(figures) == set(bench_bus.FIGURES)
    for name in ("events_per_s", "publish_p99_us", "publish_p50_us", "stream_write_per_s", "duration_s"):
        assert figures[name] > 0, name
    assert figures["consumed"] == figures["events"] == 1500
    assert figures["lost"] == figures["duplicates"] == figures["spilled"] == 0


def test_a_figure_that_is_not_a_number_is_refused_and_the_file_kept(tmp_path: Path) -> None:
    path = tmp_path / "performance.json"
    merge_results(path, {"example": record(rate=1.0)})
    before = path.read_text()

    with pytest.raises(ValueError, match=r"example\.figures\.p99_us = nan.*example\.figures\.rate = inf"):
        merge_results(path, {"example": record(p99_us=float("nan"), rate=float("inf"), count=3)})

    assert path.read_text() == before
    assert json.loads(before)["example"]["figures"] == {"rate": 1.0}
