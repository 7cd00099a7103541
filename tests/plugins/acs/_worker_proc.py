"""One worker of a multi-worker deployment, for test_acs_workers.py: the real app under uvicorn
on 127.0.0.1 (a free port), with the ACS plugin and the test desk's fake speech (_acs_kit).

Usage: python _worker_proc.py CONFIG_TOML UTTERANCE...

Prints ``ready <base URL>`` once it serves, then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from _acs_kit import DeskLine, build_runtime, serving
from artagent.config import parse_config


async def main(config: Path, utterances: list[str]) -> None:
    def make_config(text: str, environ: dict[str, str] | None = None) -> Any:
        return parse_config(text, base_dir=config.parent, source=str(config), environ=dict(os.environ))

    runtime = build_runtime(make_config, DeskLine(utterances), TOML)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with serving(runtime) as base:
        print(f"ready {base}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    TOML = Path(sys.argv[1]).read_text()
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2:]))
