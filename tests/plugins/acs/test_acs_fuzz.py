"""Thousands of malformed media messages and webhook bodies thrown at a live server: every HTTP
answer is a success or a 4xx (or the 502 of a well-formed incoming call the unreachable ACS
could not answer), the fuzzed socket stays open (nothing it sends is fatal), and a call running
beside it is unaffected. Bounded by example counts: about 2,600 media messages and 2,000 bodies,
some 40 s on a loaded two-core machine."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from _acs_kit import DeskLine, ServerThread, build_runtime, speech
from artagent.config import parse_config
from artagent_acs.simulator.client import MediaClient
from artagent_acs.tokens import UrlSigner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect

KINDS = ["AudioData", "AudioMetadata", "DtmfData", "StopAudio", "audiodata", "", "Unknown"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
b64 = st.binary(max_size=1200).map(lambda b: base64.b64encode(b).decode())
audio_data = st.fixed_dictionaries(
    {}, optional={"data": b64 | json_values, "silent": json_values, "participantRawID": json_values,
                  "timestamp": json_values})  # fmt: skip
near_miss = st.fixed_dictionaries(
    {"kind": st.sampled_from(KINDS) | st.text(max_size=12)},
    optional={"audioData": audio_data | json_values, "dtmfData": json_values | st.fixed_dictionaries(
              {}, optional={"data": json_values, "tone": json_values}),
              "audioMetadata": json_values | st.fixed_dictionaries({}, optional={"sampleRate": json_values})},
)  # fmt: skip
as_json = (near_miss | json_values).map(lambda v: msgspec.json.encode(v).decode())
media_message = as_json | st.text(max_size=200) | st.binary(max_size=200)
grid_event = st.fixed_dictionaries(
    {}, optional={"eventType": st.sampled_from(["Microsoft.Communication.IncomingCall",
                  "Microsoft.EventGrid.SubscriptionValidationEvent"]) | st.text(max_size=10),
                  "type": st.text(max_size=10), "data": json_values | st.fixed_dictionaries(
                      {}, optional={"incomingCallContext": json_values, "validationCode": json_values,
                                    "to": json_values, "from": json_values})})  # fmt: skip
callback_event = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(
            [
                "Microsoft.Communication.CallConnected",
                "Microsoft.Communication.ParticipantsUpdated",
                "Microsoft.Communication.RecognizeCompleted",
                "Microsoft.Communication.CallTransferFailed",
            ]
        )
        | st.text(max_size=10),
        "data": json_values
        | st.fixed_dictionaries(
            {},
            optional={
                "participants": json_values,
                "dtmfResult": json_values,
                "resultInformation": json_values,
            },
        ),
    },
)
body = (
    st.lists(grid_event | callback_event, max_size=3) | grid_event | callback_event | json_values
).map(lambda v: msgspec.json.encode(v)) | st.binary(max_size=300)  # fmt: skip


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="aa-fz-", dir="/tmp"))
    text = (f'[runtime]\ndata_dir = "{folder}"\n[plugins.acs]\nsigning_key_env = "SIGNING"\n'
            'endpoint = "http://127.0.0.1:9"\nmedia_timeout_s = 60.0\n')  # fmt: skip

    def make_config(toml: str = "", environ: dict[str, str] | None = None) -> Any:
        return parse_config(text + toml, base_dir=folder, source="fuzz.toml", environ={"SIGNING": "f" * 32})

    line = DeskLine(["first", "second", "third", "fourth", "fifth"] * 20)
    with ServerThread(build_runtime(make_config, line)) as server:
        yield server


def _simulate(base: str) -> dict[str, Any]:
    response = httpx.post(f"{base}/api/v1/acs/simulate", json={"events": True})
    assert response.status_code == 201
    result: dict[str, Any] = response.json()
    return result


class Bystander:
    """An ordinary call beside the fuzzing: it keeps talking and must keep being answered."""

    def __init__(self, base: str) -> None:
        self.base, self.answers, self.error = base, 0, ""
        self._done = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._call()), daemon=True)

    async def _call(self) -> None:
        call = _simulate(self.base)
        async with await MediaClient.open(call["media_url"], sample_rate=16000) as phone:
            await phone.until_agent_done(timeout=10)
            while not self._done.is_set():
                before = len(phone.events_of("agent_response_generated"))
                await phone.say(speech(0.4))
                if not await phone.wait_event("agent_response_generated", before + 1, timeout=10):
                    self.error = "no answer"
                    return
                self.answers += 1
                await phone.until_agent_done(timeout=10)
            await phone.hang_up()

    def __enter__(self) -> Bystander:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self.thread.join(30)


@pytest.fixture(scope="module")
def fuzzed(live: ServerThread) -> Iterator[ClientConnection]:
    call = _simulate(live.base)
    with connect(call["media_url"], max_queue=None) as ws:  # read everything: no back-pressure
        yield ws


def test_malformed_media_messages_are_skipped_and_never_end_the_call(
    live: ServerThread, fuzzed: ClientConnection
) -> None:
    silence = msgspec.json.encode(
        {"kind": "AudioData", "audioData": {"data": base64.b64encode(bytes(640)).decode()}}
    )

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.lists(media_message, min_size=1, max_size=12))
    def throw(messages: list[str | bytes]) -> None:
        for message in messages:
            fuzzed.send(message)
        fuzzed.send(silence.decode())  # the socket is still open: this would raise otherwise

    with Bystander(live.base) as bystander:
        throw()
    assert bystander.error == "" and bystander.answers >= 1, "the other call went on as usual"
    metrics = httpx.get(f"{live.base}/metrics").text
    rejected = sum(
        float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
        if line.startswith("artagent_acs_media_rejected_messages_total")
    )  # fmt: skip
    assert rejected >= 400, "each malformed message was counted"
    assert live.runtime.calls  # the fuzzed call is still running


def test_malformed_webhook_bodies_get_4xx_never_an_error(live: ServerThread) -> None:
    call = _simulate(live.base)
    token = UrlSigner(b"f" * 32, ttl_s=600).issue(call["call_id"], "callback")
    callback = f"{live.base}/api/v1/calls/callbacks?call={call['call_id']}&token={token}"
    answer = f"{live.base}/api/v1/calls/answer"
    statuses: dict[int, int] = {}

    with httpx.Client() as client:

        @settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(body, st.booleans())
        def throw(payload: bytes, to_answer: bool) -> None:
            response = client.post(answer if to_answer else callback, content=payload,
                                   headers={"content-type": "application/json"})  # fmt: skip
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code == 502:  # a well-formed incoming call: ACS (port 9) is not there
                assert to_answer and response.json()["failed"], response.text
                return
            assert response.status_code == 200 or 400 <= response.status_code < 500, response.text

        throw()
    assert statuses.get(400, 0) > 200, statuses
    assert sum(statuses.values()) >= 2000
    assert httpx.get(f"{live.base}/health").status_code == 200
