"""Run ARTAgent's benchmarks and record their figures in docs/performance.{json,md}.

    .venv/bin/python scripts/bench.py                 # every benchmark (what `make bench` runs)
    .venv/bin/python scripts/bench.py bus             # one; only its entry is replaced
    .venv/bin/python scripts/bench.py bus --events 20000 --repetitions 3   # with its own options
    .venv/bin/python scripts/bench.py --list          # the benchmarks and their goals
    .venv/bin/python scripts/bench.py --render        # re-render the Markdown from the JSON

A benchmark is a module ``scripts/bench_<name>.py``; _benchlib.py says what it must define.
Benchmarks run one after another in this process (each starts and stops what it measures), and
each result is merged into the JSON as soon as it is measured. The exit status is 1 if a
benchmark failed, and with ``--strict`` 2 if a goal was missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import logging
import shlex
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

SCRIPTS = Path(__file__).resolve().parent
ROOT = SCRIPTS.parent
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))  # benchmark modules import _benchlib as a sibling

from _benchlib import Figure, goal_met, machine_info, revision, write_docs, write_readme  # noqa: E402

DOCS = ROOT / "docs"
REQUIRED = ("TITLE", "ABOUT", "FIGURES", "run")


def discover(scripts: Path = SCRIPTS) -> dict[str, Path]:
    """Benchmark name -> module path, for every ``bench_<name>.py`` next to this script."""
    return {p.stem.removeprefix("bench_"): p for p in sorted(scripts.glob("bench_*.py"))}


def load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    missing = [attr for attr in REQUIRED if not hasattr(module, attr)]
    if missing:
        raise TypeError(f"{path.name} does not define {', '.join(missing)}")
    return module


def options(module: ModuleType, name: str, argv: list[str]) -> argparse.Namespace:
    """The benchmark's own options: its defaults, overridden by ``argv``."""
    parser = argparse.ArgumentParser(prog=f"bench.py {name}", description=module.TITLE)
    if hasattr(module, "add_arguments"):
        module.add_arguments(parser)
    return parser.parse_args(argv)


def command(name: str, argv: list[str]) -> str:
    """The exact command that reruns this benchmark, from the repository root."""
    python = Path(sys.executable)
    shown = str(python.relative_to(ROOT)) if python.is_relative_to(ROOT) else python.name
    return shlex.join([shown, "scripts/bench.py", name, *argv])


def entry(
    module: ModuleType, figures: dict[str, Any], machine: dict[str, Any], cmd: str, started: dt.datetime
) -> dict[str, Any]:
    """One benchmark's record in docs/performance.json."""
    info: dict[str, Figure] = module.FIGURES
    extra: dict[str, Any] = module.extra() if hasattr(module, "extra") else {}
    return {
        "title": module.TITLE,
        "about": " ".join(module.ABOUT.split()).replace("``", "`"),
        "machine": machine,
        "date": started.isoformat(timespec="seconds"),
        "command": cmd,
        "revision": revision(ROOT),
        "figures": figures,
        "figure_info": {fig: meta.as_json() for fig, meta in info.items()},
        **extra,
    }


def run_one(name: str, path: Path, argv: list[str]) -> dict[str, Any]:
    module = load(name, path)
    args = options(module, name, argv)
    machine = machine_info()
    started = dt.datetime.now(dt.UTC)
    clock = time.monotonic()
    print(f"== {name}: {module.TITLE}", flush=True)
    figures = module.run(args)
    undeclared = sorted(set(figures) - set(module.FIGURES))
    if undeclared:
        print(f"   note: figures without a declared unit: {', '.join(undeclared)}")
    for fig, value in figures.items():
        meta = module.FIGURES.get(fig)
        goal = meta.goal if meta else None
        verdict = {True: "  goal met", False: "  GOAL MISSED", None: ""}[goal_met(goal, value)]
        unit = meta.unit if meta else ""
        print(f"   {fig:<24} {value:>14,} {unit:<12}{f' (goal {goal})' if goal else ''}{verdict}")
    print(f"   done in {time.monotonic() - clock:.1f} s", flush=True)
    return entry(module, figures, machine, command(name, argv), started)


def missed_goals(record: dict[str, Any]) -> list[str]:
    return [
        fig
        for fig, meta in record["figure_info"].items()
        if goal_met(meta.get("goal"), record["figures"].get(fig)) is False
    ]


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n", 1)[0],
        epilog="Options not listed here go to the benchmark named (only when exactly one is named).",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--render", action="store_true", help="only re-render the Markdown from the JSON")
    parser.add_argument("--strict", action="store_true", help="exit with status 2 when a goal is missed")
    parser.add_argument("--json", type=Path, default=DOCS / "performance.json", help="results file")
    parser.add_argument("--md", type=Path, default=DOCS / "performance.md", help="rendered page")
    parser.add_argument(
        "--readme",
        type=Path,
        help="README whose figures block is rewritten (default: README.md, when --json is the default)",
    )
    return parser.parse_known_args(argv)


def main(argv: list[str] | None = None) -> int:
    args, extra = parse(sys.argv[1:] if argv is None else argv)
    if args.readme is None and args.json == DOCS / "performance.json":
        args.readme = ROOT / "README.md"
    found = discover()
    if args.list:
        for name, path in found.items():
            module = load(name, path)
            goals = ", ".join(f"{f} {m.goal}" for f, m in module.FIGURES.items() if m.goal)
            print(f"{name:<12} {module.TITLE}" + (f"  [goals: {goals}]" if goals else ""))
        return 0
    if args.render:
        data = write_docs(args.json, args.md, {})
        if args.readme is not None:
            write_readme(args.readme, data)
        return 0
    unknown = [n for n in args.names if n not in found]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(found)}", file=sys.stderr)
        return 1
    names = args.names or list(found)
    if extra and len(names) != 1:
        print(f"options {' '.join(extra)} need exactly one benchmark named", file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    failed: list[str] = []
    missed: list[str] = []
    for name in names:
        try:
            record = run_one(name, found[name], extra)
        except Exception:
            traceback.print_exc()
            print(f"== {name}: FAILED; its entry in {args.json} is left as it was", file=sys.stderr)
            failed.append(name)
            continue
        data = write_docs(args.json, args.md, {name: record})
        if args.readme is not None:
            write_readme(args.readme, data)
        missed += [f"{name}.{fig}" for fig in missed_goals(record)]
    print(f"results: {args.json} and {args.md}")
    if missed:
        print(f"goals missed: {', '.join(missed)}")
    return 1 if failed else 2 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
