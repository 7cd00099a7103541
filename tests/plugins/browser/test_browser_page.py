"""The page in headless Chromium: served at ``/``, usable from the keyboard, labelled and
readable, and a spoken conversation through the microphone with the real local speech models
(the caller is a WAV file Piper spoke, heard through the browser's capture by Silero and
faster-whisper): barge-in, the transcript, the agent's audio played, the latency waterfall,
and the call shown again from the history once it is over."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio
from _browserkit import REAL_SPEECH, FakeSpeech, Server, serve
from _chromium import chromium, screenshot, write_wav
from playwright.async_api import Page, expect

pytestmark = pytest.mark.asyncio(loop_scope="module")

VERIFY = "John Smith, 98052"
CLAIM = "I had a car accident and want to file a claim"
SPOKEN = "My name is John Smith and my zip code is nine eight zero five two."
ARTAGENT = str(Path(sys.executable).parent / "artagent")
STAGES = ("end_of_turn", "stt", "model_first_token", "tts_first_audio", "total")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server() -> AsyncIterator[Server]:
    """Fake speech: for what needs no microphone."""
    folder = Path(tempfile.mkdtemp(prefix="aa-", dir="/tmp"))
    try:
        async with serve(folder, speech=FakeSpeech([VERIFY], seconds_per_char=0.03)) as running:
            yield running
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def speaking_server() -> AsyncIterator[Server]:
    """The real local speech models (warmed up before the server says it is ready)."""
    folder = Path(tempfile.mkdtemp(prefix="aa-", dir="/tmp"))
    try:
        async with serve(folder, real_speech=True) as running:
            yield running
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def caller_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The caller, spoken by Piper (``artagent speech say``): silence while the greeting starts,
    the verification over it (the barge-in), then silence while the agent answers."""
    folder = tmp_path_factory.mktemp("caller")
    config = folder / "runtime.toml"
    config.write_text(f'[runtime]\ndata_dir = "{folder}/state"\n{REAL_SPEECH}')
    said = folder / "said.wav"
    command = [ARTAGENT, "speech", "say", "--config", str(config), "--out", str(said), SPOKEN]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    with wave.open(str(said)) as recorded:
        rate = recorded.getframerate()
        voice = np.frombuffer(recorded.readframes(recorded.getnframes()), "<i2") / 32768.0
    return write_wav(folder / "caller.wav", [2.5, voice, 16.0], rate=rate)


async def _open(page: Page, server: Server) -> None:
    await page.goto(server.url + "/")
    await expect(page.locator("#status")).to_have_attribute("data-state", "idle")


async def test_the_page_is_labelled_readable_and_works_from_the_keyboard(server: Server) -> None:
    async with chromium() as page:
        await _open(page, server)
        unlabelled = await page.evaluate(
            """() => [...document.querySelectorAll('input, select, button')]
                 .filter((e) => !e.closest('[hidden]'))
                 .filter((e) => e.tagName === 'BUTTON' ? !e.textContent.trim() : e.labels.length === 0)
                 .map((e) => e.id)"""
        )
        assert unlabelled == []
        assert await page.evaluate(_CONTRAST) >= 4.5, "text contrast below WCAG AA"
        await expect(page.locator("#scenario option")).to_have_text(["insurance"])

        await page.uncheck("#use-mic")  # typing only: no microphone in this browser
        await page.focus("#start")
        await page.keyboard.press("Enter")
        await expect(page.locator("#status")).to_have_attribute("data-state", "live")
        await expect(page.locator("#text-input")).to_be_focused()  # focus moves to the text box
        await page.keyboard.type(VERIFY)
        await page.keyboard.press("Enter")
        caller = page.locator("#transcript li.turn.caller")
        await expect(caller).to_have_text(f"You (typed){VERIFY}")
        answer = page.locator("#transcript li.turn.agent[data-agent=auth]:not([data-pending])").last
        await expect(answer).to_contain_text("you're verified", timeout=15_000)
        tools = page.locator("#transcript li.note.tool")
        await expect(tools.first).to_contain_text("Tool authenticate_caller called by auth")
        await expect(tools.first).to_contain_text('"zip":"98052"')

        # The verified caller is handed to claims intake: the handoff, the tool that made it and
        # the new agent's first words, each with its agent's name.
        await page.keyboard.type(CLAIM)
        await page.keyboard.press("Enter")
        await expect(caller.last).to_have_text(f"You (typed){CLAIM}")
        handoff = page.locator("#transcript li.note.handoff")
        await expect(handoff).to_have_text("Handoff: auth → fnol_intake (announced)", timeout=15_000)
        await expect(tools.filter(has_text="handoff_to_fnol_intake").first).to_contain_text(
            "Tool handoff_to_fnol_intake called by auth"
        )
        intake = page.locator("#transcript li.turn.agent[data-agent=fnol_intake]:not([data-pending])")
        await expect(intake.last).to_contain_text("Who was driving", timeout=15_000)
        await expect(intake.last.locator(".who")).to_have_text("fnol_intake")
        order = await page.evaluate(_TRANSCRIPT_ORDER)
        assert order.index("handoff") < order.index("fnol_intake"), order
        await _played_without_dropouts(page)
        await screenshot(page, "typed-handoff")

        await page.focus("#stop")
        await page.keyboard.press("Enter")
        await expect(page.locator("#status")).to_have_attribute("data-state", "ended")


async def _played_without_dropouts(page: Page) -> None:
    """The agent's audio was played, and once it has all been played it had no gap."""
    stats = page.locator("#audio-stats")
    await expect(stats).to_have_attribute("data-playing", "false", timeout=20_000)
    played_ms = int(await stats.get_attribute("data-played-ms") or 0)
    assert played_ms > 2_000, f"the agent was heard ({played_ms} ms played)"
    await expect(stats).to_have_attribute("data-gaps", "0")


async def test_a_spoken_conversation_with_barge_in(speaking_server: Server, caller_wav: Path) -> None:
    async with chromium(caller_wav) as page:
        await _open(page, speaking_server)
        await page.click("#start")
        await expect(page.locator("#status")).to_have_attribute("data-state", "live")
        stats = page.locator("#audio-stats")
        await expect(stats).to_have_attribute("data-echo-cancellation", "true")
        await expect(stats).to_have_attribute("data-noise-suppression", "true")

        # The caller speaks over the greeting: "stop" drops what the page had queued.
        greeting = page.locator("#transcript li.turn.agent[data-interrupted=true]")
        await expect(greeting).to_contain_text("Thank you for calling", timeout=20_000)
        await expect(stats).not_to_have_attribute("data-stops", "0")
        await expect(page.locator("#transcript li.note.interrupted")).to_contain_text("You interrupted auth")

        # Their words, recognised; the agent verifies them and answers aloud.
        caller = page.locator("#transcript li.turn.caller")
        await expect(caller).to_contain_text("John Smith", timeout=30_000)
        await expect(caller).to_contain_text("98052")
        await expect(page.locator("#transcript li.note.tool").first).to_contain_text("authenticate_caller")
        answer = page.locator("#transcript li.turn.agent:not([data-pending])").last
        await expect(answer).to_contain_text("you're verified", timeout=30_000)
        played_ms = int(await stats.get_attribute("data-played-ms") or 0)
        assert played_ms > 3_000, f"the agent's answer was heard ({played_ms} ms played)"
        await _played_without_dropouts(page)

        turn = page.locator("#waterfall figure.turn-latency").first
        await expect(turn).to_contain_text("Turn 1 · auth · total")
        for stage in STAGES:
            await expect(turn.locator(f".bar[data-stage={stage}]")).to_have_count(1)
        await expect(page.locator("#latency-totals tbody tr")).to_have_count(len(STAGES))
        await expect(page.locator("#events li[data-type=playback_interrupted]")).to_have_count(1)
        shot = await screenshot(page, "conversation")
        assert shot.stat().st_size > 10_000

        await page.click("#stop")
        await expect(page.locator("#status")).to_have_attribute("data-state", "ended")
        await expect(page.locator("#call-link a")).to_contain_text("from the history")
        await _show_from_history(page)


async def test_the_history_view_works_with_the_operator_routes_guarded() -> None:
    """``[server] api_token_env`` set: the page shows its own finished call with its view token."""
    folder = Path(tempfile.mkdtemp(prefix="aa-", dir="/tmp"))
    extra = '[server]\napi_token_env = "OPERATOR_TOKEN"\n'
    try:
        async with (
            serve(folder, speech=FakeSpeech([VERIFY]), extra=extra, environ={"OPERATOR_TOKEN": "t"}) as gs,
            chromium() as page,
        ):
            await _open(page, gs)
            await page.uncheck("#use-mic")
            await page.click("#start")
            await expect(page.locator("#status")).to_have_attribute("data-state", "live")
            await page.fill("#text-input", VERIFY)
            await page.press("#text-input", "Enter")
            answer = page.locator("#transcript li.turn.agent[data-agent=auth]:not([data-pending])").last
            await expect(answer).to_contain_text("you're verified", timeout=15_000)
            await page.click("#stop")
            await expect(page.locator("#status")).to_have_attribute("data-state", "ended")
            await page.click("#call-link a")
            await expect(page.locator("#status")).to_have_attribute("data-state", "history", timeout=15_000)
            await expect(page.locator("#transcript li.turn.caller")).to_contain_text("John Smith")
            # Another call, with no view token in this tab: the operator route says what it needs.
            await page.fill("#history-call", "browser-someone-else")
            await page.press("#history-call", "Enter")
            await expect(page.locator("#status")).to_contain_text("a bearer token is required")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _show_from_history(page: Page) -> None:
    """The finished call, reopened from its link: the history's transcript and latency."""
    await page.click("#call-link a")
    await expect(page.locator("#status")).to_have_attribute("data-state", "history", timeout=15_000)
    await expect(page.locator("#status")).to_contain_text("ended (caller_hangup)")
    await expect(page.locator("#transcript li.turn.caller")).to_contain_text("John Smith")
    await expect(page.locator("#transcript li.turn.agent[data-interrupted=true]")).to_have_count(1)
    await expect(page.locator("#transcript li.note.interrupted")).to_contain_text("You interrupted auth")
    await expect(page.locator("#waterfall .bar[data-stage=total]")).to_have_count(1)
    await screenshot(page, "history")


# The transcript's entries in order: an agent turn by its agent, a note by its kind.
_TRANSCRIPT_ORDER = """() => [...document.querySelectorAll('#transcript li')]
  .map((e) => e.dataset.agent || e.dataset.note || e.dataset.speaker)"""

# The lowest WCAG contrast ratio among the page's text colours on their backgrounds.
_CONTRAST = """() => {
  const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = (c) => { const [r, g, b] = rgb(c).map((v) => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const background = (e) => { for (; e; e = e.parentElement) {
    const c = getComputedStyle(e).backgroundColor; if (!c.startsWith('rgba(0, 0, 0, 0')) return c; }
    return 'rgb(255, 255, 255)'; };
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const texts = [...document.querySelectorAll('h1, h2, label, p, button, select, th, td, summary, span')]
    .filter((e) => e.offsetParent !== null && e.textContent.trim());
  return Math.min(...texts.map((e) => ratio(getComputedStyle(e).color, background(e))));
}"""
