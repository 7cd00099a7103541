"""How the fake realtime service gives a response: the brain's answer as the protocol's events."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from typing import Any

from realtime_script import Answer, Call, Context, Drop, Fail, Say, speech

_IDS = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}_{next(_IDS)}"


async def respond(session: Any, response_id: str, context: Context) -> None:
    """Give the response the brain decides, as the protocol's events (until cancelled)."""
    answer: Answer = session.fake.brain(context)
    await asyncio.sleep(session.fake.first_audio_s)
    if isinstance(answer, Fail):
        await session.send(
            "error", error={"type": "server_error", "code": answer.code, "message": answer.message}
        )
        return
    if isinstance(answer, Drop):
        session.ws.transport.abort()
        return
    first = True
    for part in answer:
        if session.cancelled:
            break
        if isinstance(part, Say):
            await _say(session, response_id, part, first)
            first = False
        else:
            await _call(session, response_id, part)
    status = "cancelled" if session.cancelled else "completed"
    usage = {"input_tokens": 120, "output_tokens": 30, "total_tokens": 150}
    await session.send("response.done", response={"id": response_id, "status": status, "usage": usage})


async def _say(session: Any, response_id: str, part: Say, first: bool) -> None:
    """The agent speaks: audio deltas (faster than real time) with their transcript."""
    item, names = new_id("item"), session.names
    await session.send(
        "response.output_item.added",
        response_id=response_id,
        item={"id": item, "type": "message", "role": "assistant"},
    )
    pcm = speech(part.text, session.fake.ms_per_char)
    step = 24 * session.fake.chunk_ms * 2
    words = part.text.split()
    chunks = range(0, len(pcm), step)
    for index, start in enumerate(chunks):
        if session.cancelled:
            return
        if first and index == 0:
            session.connection.first_audio_sent.append(time.monotonic())
        delta = base64.b64encode(pcm[start : start + step]).decode()
        await session.send(names["audio_delta"], response_id=response_id, item_id=item, delta=delta)
        share = words[index * len(words) // len(chunks) : (index + 1) * len(words) // len(chunks)]
        if share:
            await session.send(
                names["transcript_delta"],
                response_id=response_id,
                item_id=item,
                delta=" ".join(share) + " ",
            )
        await asyncio.sleep(session.fake.chunk_ms / 1000 / session.fake.pace)
    session.connection.items.append({"id": item, "type": "message", "role": "assistant", "text": part.text})
    await session.send(names["audio_done"], response_id=response_id, item_id=item)
    await session.send(names["transcript_done"], response_id=response_id, item_id=item, transcript=part.text)


async def _call(session: Any, response_id: str, part: Call) -> None:
    item, call_id = new_id("item"), new_id("call")
    await session.send(
        "response.output_item.added",
        response_id=response_id,
        item={"id": item, "type": "function_call", "name": part.name, "call_id": call_id},
    )
    arguments = json.dumps(part.arguments)
    session.connection.items.append(
        {"id": item, "type": "function_call", "name": part.name, "call_id": call_id}
    )
    done: dict[str, Any] = {
        "response_id": response_id,
        "item_id": item,
        "call_id": call_id,
        "arguments": arguments,
    }
    if session.fake.dialect == "ga":
        done["name"] = part.name  # the preview services name it only in output_item.added
    await session.send(
        "response.function_call_arguments.delta",
        response_id=response_id,
        item_id=item,
        call_id=call_id,
        delta=arguments,
    )
    await session.send("response.function_call_arguments.done", **done)
