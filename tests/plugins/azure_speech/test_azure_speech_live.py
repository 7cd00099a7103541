"""Against the real Azure Speech service, when credentials are given; otherwise reported as
skipped (pytest's -ra prints the reason in the summary), never passed without running.

    AZURE_SPEECH_KEY=... AZURE_SPEECH_REGION=swedencentral \\
        .venv/bin/python -m pytest tests/plugins/azure_speech/test_azure_speech_live.py
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from artagent.audio import FrameSplitter
from artagent.providers import Transcript
from artagent_azure_speech.config import AzureSpeechConfig
from artagent_azure_speech.credentials import Credentials
from artagent_azure_speech.stt import AzureSTT
from artagent_azure_speech.tts import AzureTTS

KEY = os.environ.get("AZURE_SPEECH_KEY", "")
REGION = os.environ.get("AZURE_SPEECH_REGION", "")

pytestmark = [
    pytest.mark.skipif(
        not (KEY and REGION),
        reason="live Azure Speech test NOT RUN: set AZURE_SPEECH_KEY and AZURE_SPEECH_REGION to run it",
    ),
    pytest.mark.timeout(90),
]


async def test_speech_synthesized_by_azure_is_recognised_by_azure() -> None:
    cfg = AzureSpeechConfig(region=REGION, key_env="AZURE_SPEECH_KEY", phrases=["Contoso"])
    credentials = Credentials(key=KEY)
    with ThreadPoolExecutor(4) as executor:
        tts = AzureTTS(cfg, credentials, executor)
        pcm = b"".join([c.pcm async for c in tts.synthesize("Welcome to Contoso insurance. How can I help?")])
        assert len(pcm) > 16000 * 2  # more than a second of 16 kHz audio
        stream = await AzureSTT(cfg, credentials, executor).open(sample_rate=16000)
        splitter = FrameSplitter(16000)
        heard: list[Transcript] = []

        async def read() -> None:
            async for transcript in stream.results():
                heard.append(transcript)
                if transcript.is_final and transcript.text:
                    return

        reading = asyncio.create_task(read())
        for frame in splitter.feed(pcm) + splitter.feed(bytes(640 * 75)):  # the speech, then 1.5 s quiet
            await stream.push(frame)
            await asyncio.sleep(0.02)  # real time, as a caller speaks
        await stream.end_of_speech()
        await asyncio.wait_for(reading, 30)
        await stream.close()
    final = next(t for t in heard if t.is_final and t.text)
    assert "contoso" in final.text.lower() and final.language == "en-US"
    assert final.start_ms is not None and final.end_ms is not None and final.end_ms > final.start_ms
