"""The providers through the real Speech SDK, against the local fake Speech service.

The SDK connects over loopback WebSockets as it would to a Speech container
(``host = "ws://..."``); what it sends (language, phrase list, segmentation, SSML, output
format, credentials) is checked where the service would see it, and what the fake answers comes
back through the SDK's own threads and events.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import pytest
from _audio import silence, voiced
from _bus import wait_until
from artagent.providers import Transcript, VoiceSpec
from artagent_azure_speech.config import AzureSpeechConfig
from artagent_azure_speech.credentials import Credentials, EntraTokens
from artagent_azure_speech.errors import AzureSpeechError
from artagent_azure_speech.stt import AzureSTT, AzureSTTStream
from artagent_azure_speech.tts import AzureTTS
from azure.core.credentials import AccessToken
from fake_speech_service import FakeSpeechService

pytestmark = pytest.mark.timeout(60)
KEY = Credentials(key="test-key")


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(4, thread_name_prefix="azure-speech")
    yield pool
    pool.shutdown(wait=True)


@pytest.fixture
async def service() -> AsyncIterator[FakeSpeechService]:
    async with FakeSpeechService(phrases=["Hello there.", "My policy number is PX-1234."]) as fake:
        yield fake


def settings(service: FakeSpeechService, **overrides: object) -> AzureSpeechConfig:
    return AzureSpeechConfig(host=service.host, key_env="AZURE_SPEECH_KEY", **overrides)  # type: ignore[arg-type]


async def speak(stream: AzureSTTStream, *pieces: list[bytes]) -> None:
    for piece in pieces:
        for frame in piece:
            await stream.push(frame)


async def finals(stream: AzureSTTStream, count: int, into: list[Transcript]) -> None:
    async for transcript in stream.results():
        into.append(transcript)
        if sum(t.is_final for t in into) == count:
            return


async def test_a_call_is_recognised_with_partials_finals_offsets_and_confidence(
    service: FakeSpeechService, executor: ThreadPoolExecutor
) -> None:
    stt = AzureSTT(settings(service, segmentation_silence_ms=300), KEY, executor)
    stream = await stt.open(sample_rate=16000)
    heard: list[Transcript] = []
    reading = asyncio.create_task(finals(stream, 2, heard))
    await speak(stream, silence(200), voiced(600), silence(400))
    await stream.end_of_speech()
    await speak(stream, voiced(800), silence(400))
    await stream.end_of_speech()
    await asyncio.wait_for(reading, 20)
    await stream.close()

    done = [t for t in heard if t.is_final]
    assert [t.text for t in done] == ["Hello there.", "My policy number is PX-1234."]
    assert (done[0].start_ms, done[0].end_ms) == (200.0, 800.0)
    assert (done[1].start_ms, done[1].end_ms) == (1200.0, 2000.0)
    assert {t.confidence for t in done} == {0.91} and {t.language for t in heard} == {"en-US"}
    first = heard[: heard.index(done[0])]
    assert first and all(not t.is_final for t in first)
    assert [t.text for t in first][-1] == "hello there"


async def test_the_service_receives_language_phrase_list_and_segmentation_silence(
    service: FakeSpeechService, executor: ThreadPoolExecutor
) -> None:
    cfg = settings(service, languages=["en-GB"], phrases=["Contoso", "PX-1234"], segmentation_silence_ms=450)
    stream = await AzureSTT(cfg, KEY, executor).open(sample_rate=16000)
    heard: list[Transcript] = []
    reading = asyncio.create_task(finals(stream, 1, heard))
    await speak(stream, voiced(200), silence(600))
    await asyncio.wait_for(reading, 20)
    await stream.close()
    assert heard[-1].text == "Hello there."
    connection = service.connections[0]
    assert "language=en-GB" in connection.path
    assert connection.headers["ocp-apim-subscription-key"] == "test-key"
    context = connection.contexts[0]
    assert context["dgi"]["Groups"][0]["Items"] == [{"Text": "Contoso"}, {"Text": "PX-1234"}]
    segmentation = context["phraseDetection"]["CONVERSATION"]["segmentation"]
    assert segmentation == {"segmentationSilenceTimeoutMs": 450, "mode": "Custom"}
    assert connection.config is not None
    assert connection.config["context"]["audio"]["source"]["samplerate"] == "16000"


async def test_continuous_language_identification_reports_the_language_heard(
    executor: ThreadPoolExecutor,
) -> None:
    phrases = [("Bonjour, je voudrais de l'aide.", "fr-FR"), ("Thank you.", "en-US")]
    async with FakeSpeechService(phrases=phrases) as service:
        cfg = settings(service, languages=["en-US", "fr-FR"], segmentation_silence_ms=300)
        stream = await AzureSTT(cfg, KEY, executor).open(sample_rate=16000)
        heard: list[Transcript] = []
        reading = asyncio.create_task(finals(stream, 2, heard))
        await speak(stream, voiced(600), silence(400), voiced(400), silence(400))
        await asyncio.wait_for(reading, 20)
        await stream.close()
    assert [(t.text, t.language) for t in heard if t.is_final] == [
        ("Bonjour, je voudrais de l'aide.", "fr-FR"),
        ("Thank you.", "en-US"),
    ]
    language_id = service.connections[0].contexts[0]["languageId"]
    assert language_id["languages"] == ["en-US", "fr-FR"] and language_id["mode"] == "DetectContinuous"


async def test_a_wrong_key_ends_results_with_an_authentication_error(
    service: FakeSpeechService, executor: ThreadPoolExecutor
) -> None:
    stream = await AzureSTT(settings(service), Credentials(key="wrong"), executor).open(sample_rate=16000)
    await speak(stream, voiced(200))
    with pytest.raises(AzureSpeechError, match=r"AuthenticationFailure") as failure:
        async for _ in stream.results():
            pass
    assert "key_env" in str(failure.value)
    await stream.close()


async def test_a_service_that_stays_away_ends_results_with_an_error(
    service: FakeSpeechService, executor: ThreadPoolExecutor
) -> None:
    service.drop_after_ms, service.then_refuse_with = 300, HTTPStatus.SERVICE_UNAVAILABLE
    stream = await AzureSTT(settings(service), KEY, executor).open(sample_rate=16000)
    await speak(stream, voiced(1000))
    with pytest.raises(AzureSpeechError, match=r"recognition failed \(\w+\)"):
        async for _ in stream.results():
            pass
    await stream.close()


class RotatingCredential:
    """An azure-identity style credential (get_token) handing out numbered tokens."""

    def __init__(self) -> None:
        self.issued = 0

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        assert scopes == ("https://cognitiveservices.azure.com/.default",)
        self.issued += 1
        return AccessToken(f"entra-{self.issued}", 4_102_444_800)


async def test_entra_id_tokens_reach_the_service_as_bearer_tokens(executor: ThreadPoolExecutor) -> None:
    async with FakeSpeechService(phrases=["Hi."], key="not-used", tokens=["aad#/sub/res#entra-1"]) as service:
        cfg = AzureSpeechConfig(host=service.host, resource_id="/sub/res")
        tokens = EntraTokens(RotatingCredential(), resource_id="/sub/res", refresh_s=300, executor=executor)
        credentials = Credentials(tokens=tokens)
        stream = await AzureSTT(cfg, credentials, executor).open(sample_rate=16000)
        heard: list[Transcript] = []
        reading = asyncio.create_task(finals(stream, 1, heard))
        await speak(stream, voiced(400), silence(700))
        await asyncio.wait_for(reading, 20)
        await stream.close()
        chunks = [c async for c in AzureTTS(cfg, credentials, executor).synthesize("Hi.")]
    assert heard[-1].text == "Hi." and chunks
    assert {c.headers["authorization"] for c in service.connections} == {"Bearer aad#/sub/res#entra-1"}


async def test_synthesis_streams_the_voice_style_and_rate_at_the_configured_rate(
    service: FakeSpeechService, executor: ThreadPoolExecutor
) -> None:
    tts = AzureTTS(settings(service, output_rate=24000), KEY, executor)
    voice = VoiceSpec(name="en-GB-SoniaNeural", style="cheerful", rate=1.1)
    chunks = [c async for c in tts.synthesize("Your claim is <approved> & paid.", voice=voice)]
    text = "Your claim is <approved> & paid."
    assert {c.sample_rate for c in chunks} == {24000}
    assert sum(len(c.pcm) for c in chunks) == len(text) * 24000 * 40 // 1000 * 2
    assert len(chunks) > 3  # streamed, not one block at the end
    connection = service.connections[-1]
    assert connection.contexts[0]["synthesis"]["audio"]["outputFormat"] == "raw-24khz-16bit-mono-pcm"
    assert connection.ssml == [
        '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" '
        'xmlns:mstts="http://www.w3.org/2001/mstts" xml:lang="en-GB"><voice name="en-GB-SoniaNeural">'
        '<mstts:express-as style="cheerful"><prosody rate="+10%">Your claim is &lt;approved&gt; &amp; paid.'
        "</prosody></mstts:express-as></voice></speak>"
    ]


async def test_a_synthesis_closed_early_is_stopped_and_the_next_one_is_whole(
    service: FakeSpeechService, executor: ThreadPoolExecutor
) -> None:
    service.chunk_delay_s = 0.05
    tts = AzureTTS(settings(service), KEY, executor)
    speech = tts.synthesize("A long answer that the caller interrupts after the first words.")
    await anext(speech)
    await speech.aclose()
    interrupted = service.connections[-1]
    await wait_until(lambda: interrupted.closed, what="the SDK hanging up the stopped synthesis")
    after = [c async for c in tts.synthesize("Yes?")]
    assert sum(len(c.pcm) for c in after) == len("Yes?") * 16000 * 40 // 1000 * 2
    assert interrupted.ssml == [interrupted.ssml[0]] and service.connections[-1].ssml[0].endswith(
        ">Yes?</voice></speak>"
    )


async def test_a_refused_synthesis_raises_a_clear_error(
    service: FakeSpeechService, executor: ThreadPoolExecutor
) -> None:
    service.refuse_with = HTTPStatus.TOO_MANY_REQUESTS
    tts = AzureTTS(settings(service), KEY, executor)
    with pytest.raises(AzureSpeechError, match=r"synthesis failed \((TooManyRequests|ConnectionFailure)\)"):
        async for _ in tts.synthesize("Hello"):
            pass
