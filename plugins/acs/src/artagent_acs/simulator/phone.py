"""One simulated phone call against a running server, as ``artagent call`` places it.

It asks the server for a simulated call (``POST /api/v1/acs/simulate``: a media URL with its
signed token), connects to it with the ACS media protocol, and plays the caller: an utterance
at a time, each once the agent has finished speaking (or as soon as it starts, with
``interrupt``), or a WAV file as it is. The call's events come back over the same socket and
are printed as a transcript (or as JSON lines). At the end the caller hangs up and waits for
``call_ended``; ``--save`` writes both sides as WAV files.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx
import msgspec
from artagent.agents.chat import NORMAL_ENDINGS, Printer
from artagent.events import (
    Event,
    EventCatalogue,
    ParticipantJoined,
    PlaybackInterrupted,
    TranscriptionReceived,
)

from artagent_acs.simulator.audio import write_wav
from artagent_acs.simulator.client import MediaClient

__all__ = ["CallOptions", "SimulatorError", "place_call"]

QUIT = {"/quit", "/bye", "/exit"}


class SimulatorError(RuntimeError):
    """The call could not be placed (no server, refused, bad input): the message says why."""


@dataclass
class CallOptions:
    url: str
    caller: str = "+15550100001"
    callee: str | None = None
    interrupt: bool = False
    as_json: bool = False
    save: Path | None = None
    token: str | None = None
    max_wait_s: float = 60.0
    """The longest the caller waits for the agent to finish speaking."""
    reply_wait_s: float = 10.0
    """After speaking, the longest the caller waits for the agent to start answering."""
    extra: dict[str, Any] = field(default_factory=dict)


class CallPrinter(Printer):
    """The chat transcript, plus the caller's words, keys, barge-ins and transfers."""

    @staticmethod
    def _line(event: Event) -> str | None:
        if isinstance(event, TranscriptionReceived):
            if not event.is_final or event.speaker != "caller":
                return None
            return f"[caller keys] {event.text}" if event.source == "dtmf" else f"[caller] {event.text}"
        if isinstance(event, PlaybackInterrupted):
            return f"-- barge-in: the caller interrupted {event.agent} after {event.heard_ms:.0f} ms"
        if isinstance(event, ParticipantJoined) and event.role == "transfer_target":
            return f"-- transferred to {event.participant_id}"
        return Printer._line(event)


Utterances = Callable[[], AsyncIterator[Callable[[int], Awaitable[bytes]]]]
"""Each item makes one utterance's audio at the stream's rate, when it is its turn."""


async def _start(options: CallOptions) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {options.token}"} if options.token else {}
    body = {"caller": options.caller, "callee": options.callee, "events": True}
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(f"{options.url}/api/v1/acs/simulate", json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise SimulatorError(
            f"no ARTAgent server at {options.url} ({exc}); start one with `artagent serve`"
        ) from None
    if response.status_code == 404:
        raise SimulatorError(f"{options.url} has no ACS channel (is artagent-acs installed there?)")
    if response.status_code != 201:
        detail = response.json().get("detail", response.text) if response.content else response.reason_phrase
        raise SimulatorError(f"the server refused the simulated call ({response.status_code}): {detail}")
    started: dict[str, Any] = response.json()
    return started


async def _speak(phone: MediaClient, pcm: bytes, options: CallOptions) -> None:
    if options.interrupt:  # talk as soon as the agent has started speaking
        await phone.wait_for(lambda p: p.agent_quiet_for() < 0.1, timeout=3.0)
    else:
        await phone.until_agent_done(timeout=options.max_wait_s)
    if phone.closed:
        return
    before = len(phone.events_of("agent_response_generated"))
    await phone.say(pcm)
    await phone.wait_event("agent_response_generated", before + 1, timeout=options.reply_wait_s)


async def place_call(
    options: CallOptions, catalogue: EventCatalogue, utterances: Utterances, out: TextIO = sys.stdout
) -> int:
    """Run the call; 0 when it ended normally (hang-up, the agent's goodbye, a transfer)."""
    started = await _start(options)
    rate = int(started["sample_rate"])
    printer = CallPrinter(out, as_json=options.as_json)

    def show(raw: dict[str, Any]) -> None:
        try:
            printer(catalogue.convert(raw))
        except (msgspec.ValidationError, TypeError):
            if options.as_json:
                out.write(msgspec.json.encode(raw).decode() + "\n")

    phone = await MediaClient.open(
        str(started["media_url"]), sample_rate=rate, participant=f"4:{options.caller}"
    )
    phone.on_event = show
    try:
        async for make in utterances():
            if phone.closed:
                break
            await _speak(phone, await make(rate), options)
        await phone.until_agent_done(timeout=options.max_wait_s)
        await phone.hang_up()
        await phone.closed_within(10)
    finally:
        await phone.close()
    if options.save is not None:
        write_wav(options.save / "caller.wav", b"".join(phone.sent), rate)
        write_wav(options.save / "agent.wav", phone.agent_audio(), rate)
    ended = printer.ended
    if ended is None:
        raise SimulatorError(
            f"the call ended without call_ended (socket closed {phone.close_code}: {phone.close_reason})"
        )
    return 0 if ended.reason in NORMAL_ENDINGS else 1


def typed_lines(source: TextIO) -> AsyncIterator[str]:
    """Lines typed (or piped) on ``source``, read by a daemon thread so a blocked terminal read
    never keeps the process alive once the call is over."""
    loop, queue = asyncio.get_running_loop(), asyncio.Queue[str | None]()

    def read() -> None:
        for line in iter(source.readline, ""):
            loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\n"))
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="call-stdin", daemon=True).start()

    async def lines() -> AsyncIterator[str]:
        while (line := await queue.get()) is not None:
            if line.strip() in QUIT:
                return
            if line.strip():
                yield line.strip()

    return lines()
