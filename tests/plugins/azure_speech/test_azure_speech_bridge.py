"""The SDK-thread-to-event-loop bridges, driven by real threads standing in for the SDK's.

The recogniser and synthesizer given to the providers here are this test's own objects
implementing the plugin's Recognition / Synthesizer interfaces; they report from threads they
start themselves, the way the SDK's native threads call its event handlers.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from artagent.providers import Transcript
from artagent_azure_speech.bridge import LoopBridge
from artagent_azure_speech.config import AzureSpeechConfig
from artagent_azure_speech.credentials import Credentials
from artagent_azure_speech.errors import AzureSpeechError
from artagent_azure_speech.finals import FinalsLedger
from artagent_azure_speech.recognition import Failed, Heard, RecognitionItem
from artagent_azure_speech.stt import AzureSTT
from artagent_azure_speech.tts import AzureTTS, SynthesisItem

FRAME = bytes(640)  # 20 ms at 16 kHz


def later(action: Callable[[], None], delay_s: float = 0.0) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(delay_s), action()), daemon=True)
    thread.start()
    return thread


# -- the bridge ----------------------------------------------------------------------------
async def test_values_from_several_threads_arrive_in_each_threads_order_then_the_end() -> None:
    bridge: LoopBridge[tuple[int, int]] = LoopBridge(asyncio.get_running_loop())

    def produce(thread: int) -> None:
        for i in range(200):
            bridge.put((thread, i))

    threads = [later(lambda t=t: produce(t)) for t in range(3)]
    for t in threads:
        t.join()
    later(bridge.close)
    seen: list[tuple[int, int]] = []
    while (item := await bridge.get(timeout=5)) is not None:
        seen.append(item)
    for t in range(3):
        assert [i for thread, i in seen if thread == t] == list(range(200))
    assert await bridge.get() is None  # stays ended
    bridge.put((9, 9))  # after close: dropped, not an error
    assert await bridge.get() is None


async def test_a_get_with_a_timeout_gives_up_and_a_put_after_the_loop_closed_is_harmless() -> None:
    bridge: LoopBridge[int] = LoopBridge(asyncio.get_running_loop())
    with pytest.raises(TimeoutError):
        await bridge.get(timeout=0.05)
    other = asyncio.new_event_loop()
    orphan: LoopBridge[int] = LoopBridge(other)
    other.close()
    later(lambda: orphan.put(1)).join()  # an SDK thread reporting after the call's loop is gone


# -- the finals ledger ---------------------------------------------------------------------
def final(text: str, start: float, end: float) -> Transcript:
    return Transcript(text=text, is_final=True, start_ms=start, end_ms=end)


def partial(text: str, start: float, end: float) -> Transcript:
    return Transcript(text=text, is_final=False, start_ms=start, end_ms=end)


def test_each_end_of_speech_gets_one_final_when_azure_merges_two_utterances() -> None:
    ledger = FinalsLedger(timeout_s=1.5)
    assert ledger.end_of_speech(900.0, now=0.0) == []  # the caller paused ...
    assert ledger.result(partial("my policy", 200, 800)) == [partial("my policy", 200, 800)]
    assert ledger.end_of_speech(2100.0, now=1.0) == []  # ... and went on; Azure heard one phrase
    merged = final("My policy is PX-1234.", 200, 1850)
    out = ledger.result(merged)
    assert out == [final("", 900.0, 900.0), merged]
    assert ledger.next_deadline() is None


def test_an_end_of_speech_azure_never_answers_gets_an_empty_final_after_the_timeout() -> None:
    ledger = FinalsLedger(timeout_s=1.5)
    assert ledger.end_of_speech(500.0, now=10.0) == []
    assert ledger.next_deadline() == 11.5
    assert ledger.expired(11.4) == []
    assert ledger.expired(11.5) == [final("", 500.0, 500.0)]
    late = final("hello", 100, 400)
    assert ledger.result(late) == [late]  # a late final is still passed on


def test_an_end_of_speech_just_after_azures_own_final_is_answered_at_once() -> None:
    ledger = FinalsLedger(timeout_s=1.5)
    said = final("yes", 100, 400)
    assert ledger.result(said) == [said]  # Azure was quicker than the VAD
    assert ledger.end_of_speech(650.0, now=0.0) == [final("", 650.0, 650.0)]
    assert ledger.end_of_speech(3000.0, now=1.0) == []  # a later utterance waits for its final
    assert ledger.result(final("no", 2500, 2800)) == [final("no", 2500, 2800)]


# -- recognition through a thread-driven recogniser -----------------------------------------
class ThreadRecognition:
    """Implements the plugin's Recognition; ``script`` runs on its own thread once started."""

    def __init__(
        self, bridge: LoopBridge[RecognitionItem], script: Callable[[ThreadRecognition], None]
    ) -> None:
        self.bridge, self.script = bridge, script
        self.started = self.stopped = False
        self.written = 0
        self.token: str | None = None
        self.end_of_audio = threading.Event()
        self.callers: list[str] = []

    def start(self) -> None:
        self.callers.append(threading.current_thread().name)
        self.started = True
        later(lambda: self.script(self))

    def stop(self) -> None:
        self.callers.append(threading.current_thread().name)
        self.end_of_audio.set()
        self.stopped = True

    def write(self, pcm: bytes) -> None:
        self.written += len(pcm)

    def set_token(self, token: str) -> None:
        self.token = token


async def open_stream(
    script: Callable[[ThreadRecognition], None], executor: ThreadPoolExecutor, **config: object
) -> tuple[object, ThreadRecognition]:
    made: list[ThreadRecognition] = []

    def factory(rate: int, token: str | None, languages: list[str], bridge: LoopBridge[RecognitionItem]):
        made.append(ThreadRecognition(bridge, script))
        return made[0]

    cfg = AzureSpeechConfig(host="ws://127.0.0.1:9", **config)  # type: ignore[arg-type]
    stt = AzureSTT(cfg, Credentials(key="k"), executor, recognition=factory)
    stream = await stt.open(sample_rate=16000)
    return stream, made[0]


@pytest.fixture
def executor():
    pool = ThreadPoolExecutor(2, thread_name_prefix="sdk-calls")
    yield pool
    pool.shutdown(wait=True)


async def test_partials_and_finals_arrive_in_order_with_offsets_in_ms(executor: ThreadPoolExecutor) -> None:
    def script(rec: ThreadRecognition) -> None:
        rec.bridge.put(
            Heard("hel", False, offset_ticks=2_000_000, duration_ticks=1_500_000, language="en-US")
        )
        rec.bridge.put(
            Heard("hello", False, offset_ticks=2_000_000, duration_ticks=3_000_000, language="en-US")
        )
        rec.bridge.put(Heard("Hello.", True, 2_000_000, 4_200_000, language="en-US", confidence=0.9))

    stream, rec = await open_stream(script, executor)
    got = []
    async for transcript in stream.results():  # type: ignore[attr-defined]
        got.append(transcript)
        if transcript.is_final:
            break
    assert got == [
        Transcript(text="hel", is_final=False, start_ms=200.0, end_ms=350.0, language="en-US"),
        Transcript(text="hello", is_final=False, start_ms=200.0, end_ms=500.0, language="en-US"),
        Transcript(
            text="Hello.", is_final=True, start_ms=200.0, end_ms=620.0, confidence=0.9, language="en-US"
        ),
    ]
    assert rec.started and rec.callers[0].startswith("sdk-calls")  # start ran in the executor
    await stream.close()  # type: ignore[attr-defined]


async def test_an_error_from_the_sdk_thread_ends_results_with_a_clear_exception(
    executor: ThreadPoolExecutor,
) -> None:
    def script(rec: ThreadRecognition) -> None:
        rec.bridge.put(Heard("hel", False, 0, 1_000_000))
        time.sleep(0.05)
        rec.bridge.put(
            Failed("AuthenticationFailure", "WebSocket upgrade failed: Authentication error (401)")
        )

    stream, _ = await open_stream(script, executor)
    seen: list[str] = []
    with pytest.raises(AzureSpeechError, match=r"recognition failed \(AuthenticationFailure\).*key_env"):
        async for transcript in stream.results():  # type: ignore[attr-defined]
            seen.append(transcript.text)
    assert seen == ["hel"]
    await stream.close()  # type: ignore[attr-defined]


async def test_close_stops_recognition_in_the_executor_and_ends_results(executor: ThreadPoolExecutor) -> None:
    def script(rec: ThreadRecognition) -> None:
        rec.end_of_audio.wait(5)  # an SDK that reports its last final as the audio ends
        rec.bridge.put(Heard("Goodbye.", True, 0, 5_000_000))

    stream, rec = await open_stream(script, executor)
    for _ in range(10):
        await stream.push(FRAME)  # type: ignore[attr-defined]
    assert rec.written == 6400 and stream.position_ms == 200.0  # type: ignore[attr-defined]
    results = asyncio.create_task(_collect(stream))
    await stream.close()  # type: ignore[attr-defined]
    transcripts = await asyncio.wait_for(results, 5)
    assert rec.stopped and rec.callers[1].startswith("sdk-calls")
    assert [t.text for t in transcripts] in ([], ["Goodbye."])  # whatever came before the stop
    await stream.push(FRAME)  # type: ignore[attr-defined]
    assert rec.written == 6400  # nothing is written once closed
    await stream.close()  # type: ignore[attr-defined]  # twice is fine


async def test_an_end_of_speech_azure_ignores_gets_an_empty_final(executor: ThreadPoolExecutor) -> None:
    stream, _ = await open_stream(lambda rec: None, executor, final_timeout_ms=200)
    for _ in range(25):
        await stream.push(FRAME)  # type: ignore[attr-defined]
    await stream.end_of_speech()  # type: ignore[attr-defined]
    started = time.monotonic()
    first = await asyncio.wait_for(anext(aiter(stream.results())), 5)  # type: ignore[attr-defined]
    assert first == Transcript(text="", is_final=True, start_ms=500.0, end_ms=500.0)
    assert time.monotonic() - started >= 0.15
    await stream.close()  # type: ignore[attr-defined]


class ShortLivedTokens:
    """A token source whose tokens are due for renewal every 50 ms."""

    def __init__(self) -> None:
        self.issued = 0

    async def token(self) -> str:
        self.issued += 1
        return f"aad#/r#t{self.issued}"

    def refresh_in(self) -> float:
        return 0.05


async def test_a_running_recogniser_is_given_each_renewed_token(executor: ThreadPoolExecutor) -> None:
    made: list[ThreadRecognition] = []

    def factory(rate: int, token: str | None, languages: list[str], bridge: LoopBridge[RecognitionItem]):
        made.append(ThreadRecognition(bridge, lambda rec: None))
        made[-1].token = token
        return made[-1]

    tokens = ShortLivedTokens()
    cfg = AzureSpeechConfig(host="ws://127.0.0.1:9")
    stream = await AzureSTT(cfg, Credentials(tokens=tokens), executor, recognition=factory).open(
        sample_rate=16000
    )
    assert made[0].token == "aad#/r#t1"  # the recogniser was built with a token
    await asyncio.sleep(0.3)
    renewed = made[0].token
    assert renewed is not None and int(renewed.removeprefix("aad#/r#t")) >= 3
    await stream.close()  # type: ignore[attr-defined]
    issued = tokens.issued
    await asyncio.sleep(0.15)
    assert tokens.issued == issued  # closing stops the renewals


async def _collect(stream: object) -> list[Transcript]:
    return [t async for t in stream.results()]  # type: ignore[attr-defined]


# -- synthesis through a thread-driven synthesizer -----------------------------------------
class ThreadSynthesizer:
    """Implements the plugin's Synthesizer: ``chunks`` pieces of audio from its own thread."""

    made: list[ThreadSynthesizer]

    def __init__(self, chunks: int, fail: bool = False) -> None:
        self.chunks, self.fail = chunks, fail
        self.ssml: list[str] = []
        self.stops = 0
        self._stop = threading.Event()

    def begin(self, ssml: str, bridge: LoopBridge[SynthesisItem]) -> None:
        self.ssml.append(ssml)
        self._stop.clear()

        def speak() -> None:
            for i in range(self.chunks):
                if self._stop.wait(0.01):
                    return  # stopped: a stopped SDK synthesizer reports nothing more
                bridge.put(bytes([i]) * 320)
            if self.fail:
                bridge.put(Failed("BadRequest", "SSML parsing error"))
            bridge.close()

        later(speak)

    def stop(self) -> None:
        self.stops += 1
        self._stop.set()

    def set_token(self, token: str) -> None:
        pass


def make_tts(executor: ThreadPoolExecutor, made: list[ThreadSynthesizer], **kwargs: object) -> AzureTTS:
    def factory(token: str | None) -> ThreadSynthesizer:
        made.append(ThreadSynthesizer(**kwargs))  # type: ignore[arg-type]
        return made[-1]

    cfg = AzureSpeechConfig(host="ws://127.0.0.1:9", output_rate=24000, synthesizers=1)
    return AzureTTS(cfg, Credentials(key="k"), executor, synthesizer=factory)


async def test_synthesis_yields_audio_as_it_comes_at_the_configured_rate(
    executor: ThreadPoolExecutor,
) -> None:
    made: list[ThreadSynthesizer] = []
    tts = make_tts(executor, made, chunks=5)
    chunks = [c async for c in tts.synthesize("Hello & welcome")]
    assert [c.pcm[0] for c in chunks] == [0, 1, 2, 3, 4]
    assert {c.sample_rate for c in chunks} == {24000}
    assert "Hello &amp; welcome" in made[0].ssml[0]
    assert made[0].stops == 0  # finished: nothing to stop


async def test_closing_the_iteration_stops_synthesis_and_the_synthesizer_is_reused(
    executor: ThreadPoolExecutor,
) -> None:
    made: list[ThreadSynthesizer] = []
    tts = make_tts(executor, made, chunks=1000)
    speech = tts.synthesize("a long answer")
    assert (await anext(speech)).pcm[0] == 0
    await speech.aclose()
    assert made[0].stops == 1
    chunks = [c async for c in _take(tts.synthesize("next"), 3)]
    assert len(chunks) == 3 and len(made) == 1  # the same synthesizer, lent again


async def test_a_cancelled_task_stops_its_synthesis(executor: ThreadPoolExecutor) -> None:
    made: list[ThreadSynthesizer] = []
    tts = make_tts(executor, made, chunks=1000)

    async def play() -> None:
        async for _ in tts.synthesize("interrupted"):
            pass

    task = asyncio.create_task(play())
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert made[0].stops == 1


async def test_a_synthesis_error_is_raised_after_the_audio_that_came_before(
    executor: ThreadPoolExecutor,
) -> None:
    made: list[ThreadSynthesizer] = []
    tts = make_tts(executor, made, chunks=2, fail=True)
    got: list[int] = []
    with pytest.raises(AzureSpeechError, match=r"synthesis failed \(BadRequest\): SSML parsing error"):
        async for chunk in tts.synthesize("<bad"):
            got.append(chunk.pcm[0])
    assert got == [0, 1]


async def test_syntheses_beyond_the_pool_size_wait_their_turn(executor: ThreadPoolExecutor) -> None:
    made: list[ThreadSynthesizer] = []
    tts = make_tts(executor, made, chunks=3)  # synthesizers = 1

    async def speak(text: str) -> int:
        return len([c async for c in tts.synthesize(text)])

    assert await asyncio.gather(speak("one"), speak("two"), speak("three")) == [3, 3, 3]
    assert len(made) == 1 and len(made[0].ssml) == 3


async def _take(chunks, n: int):  # type: ignore[no-untyped-def]
    async with asyncio.timeout(5):
        i = 0
        async for chunk in chunks:
            yield chunk
            i += 1
            if i == n:
                break
    await chunks.aclose()
