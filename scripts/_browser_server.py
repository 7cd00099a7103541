"""A server for the browser benchmark, run as its own process: every installed plugin, the
insurance scenario on the flows engine, and the fake speech of the browser tests (an energy
VAD, a scripted recogniser, a tone voice), so the figures are the channel's and the session's,
not a speech model's. Prints the URL, serves until stdin closes.

Usage: python scripts/_browser_server.py UTTERANCE
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "plugins" / "browser"))

from _browserkit import FakeSpeech, serve  # noqa: E402


async def main(utterance: str) -> None:
    folder = Path(tempfile.mkdtemp(prefix="aa-bench-", dir="/tmp"))
    try:
        async with serve(folder, speech=FakeSpeech([utterance], seconds_per_char=0.02)) as server:
            print(server.url, flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
