"""Benchmark `extract`: what understanding one caller turn costs the flows engine's event loop.

One turn is what the offline engine does with each final transcript: ``extract_many`` over the
13 fields of an auto-claim intake form (names, vehicle against a two-car policy, counts, text,
date, time, address, ZIP, yes/no, choice), ``match_intent`` against 7 intents with 34 example
phrases, and ``detect_emergency``. The turns are 30 answers as faster-whisper tiny.en writes
them (digits or words, fillers, no punctuation), each asked about a different field. Every turn
gets a clock one second later than the one before, so dateparser's per-phrase cache never
serves a turn from an earlier one. Single-threaded, timed with ``time.perf_counter_ns``.

The cold start is measured in a fresh interpreter: importing the library, then ``warm_up()``
(dateparser loads its language data on first use).

Run alone (prints the figures, writes nothing): ``.venv/bin/python scripts/bench_extract.py``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from _benchlib import Figure, percentile
from artagent_flows.extract import (
    ExtractContext,
    FieldSpec,
    Vehicle,
    detect_emergency,
    extract_many,
    match_intent,
    warm_up,
)

TITLE = "Offline understanding: cost of one caller turn"
ABOUT = __doc__.split("\n\n", 1)[1].split("\n\nRun alone", 1)[0]
FIGURES = {
    "turn_p50_ms": Figure("ms", "Median cost of one turn (all fields, intents, emergency)"),
    "turn_p99_ms": Figure("ms", "99th percentile of one turn", "< 5"),
    "turn_max_ms": Figure("ms", "Slowest turn of all repetitions"),
    "extract_many_p50_ms": Figure("ms", "Median cost of extract_many alone over the 13-field form"),
    "intent_p50_ms": Figure("ms", "Median cost of match_intent over 7 intents, 34 examples"),
    "import_ms": Figure("ms", "Importing artagent_flows.extract in a fresh interpreter"),
    "warm_up_ms": Figure("ms", "warm_up() after the import: dateparser's first parse"),
}

F = FieldSpec
FORM = [
    F(name="caller_name", type="name", aliases=["my name"]),
    F(name="driver_name", type="name", aliases=["driver"]),
    F(name="vehicle", type="vehicle", aliases=["car", "vehicle"]),
    F(name="vehicles_involved", type="count", aliases=["car", "cars", "vehicle", "vehicles"]),
    F(name="description", type="text"),
    F(name="loss_date", type="date", aliases=["date", "day"]),
    F(name="loss_time", type="time", aliases=["time"]),
    F(name="location", type="address", aliases=["address", "location"]),
    F(name="loss_zip", type="zip", aliases=["zip", "zip code"]),
    F(name="drivable", type="yes_no", options={"yes": ["drivable"], "no": ["towed", "totaled"]}),
    F(name="passengers", type="count", aliases=["passenger", "passengers"], counts_caller=False),
    F(name="injuries", type="yes_no", aliases=["injuries", "injured", "hurt"]),
    F(
        name="trip_purpose",
        type="choice",
        options={"commute": ["commuting", "to work"], "business": ["for work"], "personal": ["errands"]},
    ),
]
INTENTS = {
    "claims": ["I want to file a claim", "I had an accident", "someone hit my car", "I got rear ended"],
    "general_info": ["I have a question about my policy", "what does my policy cover"],
    "deductible": ["what's my deductible", "how much is my deductible", "deductible"],
    "roadside": ["do I have roadside assistance", "I need a tow", "roadside assistance"],
    "rental": ["does my policy cover a rental car", "can I get a rental car", "rental car coverage"],
    "glass": ["is glass covered", "my windshield is cracked", "windshield repair"],
    "human": ["can I talk to a person", "I want to speak to a human", "real person please", "agent"],
}
INTENTS["human"] += ["representative", "let me talk to someone", "operator", "customer service"]
INTENTS["claims"] += ["I was in a car accident", "I need to report an accident", "my car was damaged"]
INTENTS["general_info"] += ["I have a question", "tell me about my coverage", "policy details"]
INTENTS["glass"] += ["chip in my windshield", "broken window"]
TURNS = [
    ("caller_name", "um yeah my name is john smith"),
    ("caller_name", "it's maria garcia and my zip is nine eight one zero one"),
    ("driver_name", "it was me i was driving"),
    ("driver_name", "my wife jane smith was driving"),
    ("vehicle", "the twenty nineteen honda civic"),
    ("vehicle", "uh my camry"),
    ("vehicles_involved", "two cars me and the other guy"),
    ("vehicles_involved", "just mine"),
    ("description", "i was stopped at a red light and somebody rear ended me"),
    ("description", "a guy ran the stop sign on main street and hit my passenger side"),
    ("loss_date", "it was yesterday around three pm on main street in seattle my 2019 honda civic"),
    ("loss_date", "last tuesday"),
    ("loss_date", "march third"),
    ("loss_time", "about four thirty in the afternoon"),
    ("loss_time", "like eight in the morning"),
    ("location", "at the corner of third and pike in seattle washington nine eight one zero one"),
    ("location", "one two three main street redmond washington"),
    ("location", "on i five near tacoma"),
    ("loss_zip", "nine eight zero five two"),
    ("loss_zip", "98052"),
    ("drivable", "no it had to be towed"),
    ("drivable", "yeah i drove it home"),
    ("passengers", "just me"),
    ("passengers", "my wife and two kids"),
    ("injuries", "no nobody was hurt"),
    ("injuries", "my neck hurts a little"),
    ("trip_purpose", "i was commuting to work"),
    ("trip_purpose", "just running errands"),
    ("loss_date", "no it was wednesday not tuesday"),
    ("caller_name", "can i talk to a real person"),
]
POLICY = (Vehicle(make="Honda", model="Civic", year=2019), Vehicle(make="Toyota", model="Camry", year=2021))
START = datetime(2026, 3, 12, 10, 30, tzinfo=ZoneInfo("America/Los_Angeles"))
COLD = (
    "import time; t=time.perf_counter(); import artagent_flows.extract as x; a=time.perf_counter();"
    " x.warm_up(); b=time.perf_counter(); print((a-t)*1000, (b-a)*1000)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repetitions", type=int, default=40, help="passes over the 30 turns")


def run(args: argparse.Namespace) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", COLD], capture_output=True, text=True, check=True)
    import_ms, warm_ms = (float(x) for x in out.stdout.split())
    warm_up()
    turns: list[float] = []
    many: list[float] = []
    intents: list[float] = []
    tick = 0
    for _ in range(args.repetitions):
        for asked, say in TURNS:
            tick += 1
            now = START + timedelta(seconds=tick)
            ctx = ExtractContext(now=now, vehicles=POLICY, caller_name="John Smith")
            t0 = time.perf_counter_ns()
            extract_many(FORM, say, context=ctx, expected=asked)
            t1 = time.perf_counter_ns()
            match_intent(say, INTENTS)
            t2 = time.perf_counter_ns()
            detect_emergency(say)
            t3 = time.perf_counter_ns()
            many.append((t1 - t0) / 1e6)
            intents.append((t2 - t1) / 1e6)
            turns.append((t3 - t0) / 1e6)
    return {
        "turn_p50_ms": round(statistics.median(turns), 3),
        "turn_p99_ms": round(percentile(turns, 99), 3),
        "turn_max_ms": round(max(turns), 3),
        "extract_many_p50_ms": round(statistics.median(many), 3),
        "intent_p50_ms": round(statistics.median(intents), 3),
        "import_ms": round(import_ms, 1),
        "warm_up_ms": round(warm_ms, 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=TITLE)
    add_arguments(parser)
    for name, value in run(parser.parse_args()).items():
        print(f"{name:22} {value:>10} {FIGURES[name].unit}")
