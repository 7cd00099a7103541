"""A second worker resuming a call, for test_session_state.py.

Usage: python _session_resume_proc.py REDIS_URL CALL_ID WORKER TIMEOUT_S

Tries to claim the call; prints ``blocked`` the first time the claim fails (another worker holds
the lease), and keeps trying until the lease is released or expires. Then it loads the session,
plays one turn, saves, releases the lease and prints ``{"version": ..., "turn": ...}``.
Exits 1 if it could not claim the call within TIMEOUT_S, 2 if there was no session to resume.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from artagent.session.state import Message, SessionStore
from redis.asyncio import Redis


async def claim(store: SessionStore, call_id: str, worker: str, limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    blocked = False
    while not await store.claim(call_id, worker, lease_s=30):
        if not blocked:
            print("blocked", flush=True)
            blocked = True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def main(url: str, call_id: str, worker: str, limit_s: float) -> int:
    redis = Redis.from_url(url)
    try:
        store = SessionStore(redis)
        if not await claim(store, call_id, worker, limit_s):
            return 1
        state = await store.load(call_id)
        if state is None:
            return 2
        state.history += [
            Message(role="user", content="Je déménage à Zürich 🏠", agent=state.active_agent, at=41.5),
            Message(role="assistant", content="C'est noté.", agent="claims", at=43.0),
        ]
        state.active_agent = "claims"
        state.fields["new_city"] = "Zürich"
        state.turn += 1
        state.worker = worker
        await store.save(state)
        await store.release(call_id, worker)
        print(json.dumps({"version": state.version, "turn": state.turn}), flush=True)
        return 0
    finally:
        await redis.aclose()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]))))
