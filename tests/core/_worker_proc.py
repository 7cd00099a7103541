"""A worker process carrying calls, for test_workers.py: killed with SIGKILL mid-call.

Usage: python _worker_proc.py REDIS_URL DATA_DIR WORKER CALLS

Starts a runtime on the given Redis (no plugins), admits CALLS calls as a channel would,
publishes their ``call_started``, prints ``carrying N`` and waits to be killed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from artagent.config import parse_config
from artagent.events import CallStarted
from artagent.plugins import PluginHost
from artagent.runtime import Runtime


async def main(url: str, data_dir: str, worker: str, calls: int) -> None:
    text = (
        f'[runtime]\ndata_dir = "{data_dir}"\nworker_name = "{worker}"\nheartbeat_ttl_s = 2.0\n'
        f'[bus]\nredis_url = "{url}"\n[history]\nstore = ""\n'
    )
    runtime = Runtime(parse_config(text, base_dir=Path(data_dir), environ={}), host=PluginHost(),
                      load_entry_points=False)  # fmt: skip

    async def end(reason: str) -> None:
        return None

    async with runtime.running():
        for i in range(calls):
            call_id = f"{worker}-call-{i}"
            runtime.calls.admit(call_id, end)
            runtime.outbox.for_call(call_id).emit(CallStarted, channel="test")
        await runtime.outbox.flush()
        print(f"carrying {len(runtime.calls)}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
