"""Each model loads once per process and is shared by every call and every runtime.

In a fresh interpreter (this test process has loaded the models already), two runtimes are
built from the same configuration, their providers are warmed up at the same time, and two
calls on each listen and speak at once. The libraries' own constructors are watched: each
model file must have been opened exactly once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROGRAM = textwrap.dedent(
    """
    import asyncio, collections, json, sys, tempfile
    from pathlib import Path

    import faster_whisper, onnxruntime

    opened = collections.Counter()

    class WatchedSession(onnxruntime.InferenceSession):
        def __init__(self, path, *args, **kwargs):
            opened[Path(str(path)).name] += 1
            super().__init__(path, *args, **kwargs)

    class WatchedWhisper(faster_whisper.WhisperModel):
        def __init__(self, source, *args, **kwargs):
            opened["faster-whisper model"] += 1
            super().__init__(source, *args, **kwargs)

    onnxruntime.InferenceSession = WatchedSession
    faster_whisper.WhisperModel = WatchedWhisper

    from artagent.config import parse_config
    from artagent.runtime import Runtime
    from artagent.testing.audio import tone

    TOML = '[session]\\nvad = "silero"\\nstt = "whisper"\\ntts = "piper"\\n'

    async def call(runtime, text):
        vad = runtime.sessions.provider("vad").open(sample_rate=16000)
        stt = await runtime.sessions.provider("stt").open(sample_rate=16000)
        pcm = b"".join([c.pcm async for c in runtime.sessions.provider("tts").synthesize(text)])
        for i in range(0, len(pcm) - 639, 640):
            await vad.speech_probability(pcm[i : i + 640])
            await stt.push(pcm[i : i + 640])
        await stt.end_of_speech()
        final = await anext(stt.results())
        await stt.close()
        return final.text

    async def main():
        folder = Path(tempfile.mkdtemp(prefix="aa-"))
        runtimes = [
            Runtime(parse_config(TOML, base_dir=folder, source="test.toml", environ={}))
            for _ in range(2)
        ]
        providers = [rt.sessions.provider(kind) for rt in runtimes for kind in ("vad", "stt", "tts")]
        await asyncio.gather(*(p.warm_up() for p in providers))
        said = await asyncio.gather(
            *(call(rt, text) for rt in runtimes for text in ("Good morning.", "Thank you."))
        )
        engines = {id(rt.sessions.provider("stt").engine.model) for rt in runtimes}
        print(json.dumps({"opened": opened, "said": said, "whisper_objects": len(engines)}))

    asyncio.run(main())
    """
)


@pytest.mark.timeout(240)
def test_two_runtimes_and_four_calls_load_each_model_once(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, cwd=tmp_path, timeout=220
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])

    assert result["opened"] == {
        "silero_vad.onnx": 1,
        "en_US-joe-medium.onnx": 1,
        "faster-whisper model": 1,
    }
    assert result["whisper_objects"] == 1
    # The calls really used the models: each heard what it had said.
    assert [t.lower().strip(" .") for t in result["said"]] == ["good morning", "thank you"] * 2
