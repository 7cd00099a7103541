"""Headless Debian Chromium driven by Playwright, with a WAV file as its microphone.

Chromium comes from the distribution (``apt-get install chromium``; ``.ci/run`` installs it),
never from ``playwright install``. Each launch gets a fresh profile and no network beyond the
loopback server under test. Screenshots go to ``tests/output/browser/`` (ignored by git).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import wave
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
from playwright.async_api import Page, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = Path(__file__).resolve().parents[2] / "output" / "browser"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAV_RATE = 48_000


@asynccontextmanager
async def chromium(microphone: Path | None = None) -> AsyncIterator[Page]:
    """A page in a fresh headless Chromium; ``microphone``: a WAV played once as the mic."""
    assert os.access(CHROMIUM, os.X_OK), (
        "Debian chromium is needed: apt-get install -y chromium (.ci/run does)"
    )
    args = list(ARGS)
    if microphone is not None:
        args += [
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone}%noloop",
        ]
    profile = tempfile.mkdtemp(prefix="aa-chromium-")
    errors: list[str] = []
    try:
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                profile,
                executable_path=str(CHROMIUM),
                headless=True,
                args=args,
                viewport={"width": 1400, "height": 960},
            )
            try:
                page = context.pages[0] if context.pages else await context.new_page()
                page.on("pageerror", lambda error: errors.append(str(error)))
                yield page
            finally:
                await context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert not errors, f"the page raised: {errors}"


async def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as ``tests/output/browser/<name>.png``."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


def write_wav(path: Path, parts: Sequence[float | np.ndarray], rate: int = WAV_RATE) -> Path:
    """A mono PCM16 WAV: each part is seconds of silence or float samples at ``rate``."""
    audio = np.concatenate([np.zeros(int(p * rate)) if isinstance(p, float) else p for p in parts])
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path
