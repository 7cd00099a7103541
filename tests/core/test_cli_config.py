"""`artagent config check` and `artagent serve` on good and bad configuration, run as the real
command in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTAGENT = Path(sys.executable).parent / "artagent"
SECRET_VAR = "AA_CLI_TEST_REDIS_PW"
Result = subprocess.CompletedProcess[str]


def _environ(extra: dict[str, str] | None) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k != SECRET_VAR}
    environ.update(extra or {})
    return environ


def run(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
    return subprocess.run(
        [str(ARTAGENT), *args], cwd=cwd, env=_environ(env), capture_output=True, text=True,
        timeout=timeout, check=False,
    )


def run_all(commands: dict[str, list[str]], cwd: Path, timeout: float = 120) -> dict[str, Result]:
    """Run several commands, a few at a time (each spends most of its time importing): as many
    at once as there are cores, so that each one's timeout measures that command, not a queue."""

    def one(args: list[str]) -> Result:
        try:
            return run(*args, cwd=cwd, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            return subprocess.CompletedProcess(exc.cmd, -9, "", f"<test: killed after {timeout} s>")

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {key: pool.submit(one, args) for key, args in commands.items()}
        return {key: future.result() for key, future in futures.items()}


def assert_clean_failure(result: Result, *expected: str) -> None:
    assert result.returncode == 1, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    for text in expected:
        assert text in result.stderr, f"{text!r} not in:\n{result.stderr}"


@pytest.fixture
def write(data_dir: Path) -> Callable[..., Path]:
    """Write a runtime.toml into the test's short folder, with data_dir pointing there too."""

    def write_config(text: str, name: str = "runtime.toml") -> Path:
        runtime_table = f'[runtime]\ndata_dir = "{data_dir}"\n'
        if "[runtime]\n" in text:
            text = text.replace("[runtime]\n", runtime_table, 1)
        else:
            text = runtime_table + text
        path = data_dir / name
        path.write_text(text)
        return path

    return write_config


# -- bad files: every one exits 1 and names what is wrong ----------------------------------
# id: (command, file contents, what stderr must say). "{file}" is replaced by the file's path.
BAD = {
    "unknown-key": (["config", "check", "{file}"], "[bus.outbox]\nnonsense = 1\n",
                    ["bus.outbox.nonsense: unknown key"]),
    "unknown-top-level": (["config", "check", "{file}"], "nonsense = 1\n", ["nonsense: unknown key"]),
    "wrong-type": (["config", "check", "{file}"], '[server]\nport = "eighty"\n',
                   ["server.port: Expected `int`, got `str`"]),
    "out-of-range": (["config", "check", "{file}"], "[server]\nport = 70000\n",
                     ["server.port: Expected `int` <= 65535"]),
    "bad-redis-url": (["config", "check", "{file}"], '[bus]\nredis_url = "http://cache:6379"\n',
                      ["bus.redis_url: must be"]),
    "missing-env-var": (["config", "check", "{file}"],
                        f'[bus]\nredis_url = "redis://127.0.0.1:1"\nredis_password_env = "{SECRET_VAR}"\n',
                        ["bus.redis_password_env", SECRET_VAR, "is not set"]),
    "plugin-key": (["config", "check", "{file}"], "[plugins.analytics]\nnonsense = 1\n",
                   ["plugins.analytics.nonsense: unknown key"]),
    "plugin-not-installed": (["config", "check", "{file}"], "[plugins.not_installed]\nx = 1\n",
                             ["plugins.not_installed: no plugin of this name is installed"]),
    "invalid-toml": (["config", "check", "{file}"], "[server\n", ["not valid TOML"]),
    "unreadable": (["config", "check", "{dir}/missing.toml"], None, ["cannot read"]),
    "data-dir-too-long": (["config", "check", "{file}"], '[runtime]\ndata_dir = "{dir}/' + "d" * 110 + '"\n',
                          ["runtime.data_dir", "too long"]),
    "serve-unknown-key": (["serve", "--config", "{file}"], "[server]\nport = 0\n[bus.outbox]\nnonsense = 1\n",
                          ["bus.outbox.nonsense"]),
    "serve-plugin-key": (["serve", "--config", "{file}"],
                         "[server]\nport = 0\n[plugins.analytics]\ncall_ttl_s = -1\n",
                         ["plugins.analytics.call_ttl_s"]),
}


@pytest.fixture(scope="module")
def bad_runs() -> Iterator[tuple[Path, dict[str, Result]]]:
    """Every BAD case, each with its own file and data_dir, run concurrently once per module."""
    root = Path(tempfile.mkdtemp(prefix="aa-cli-", dir="/tmp"))
    commands: dict[str, list[str]] = {}
    for key, (args, text, _) in BAD.items():
        case = root / key
        case.mkdir()
        file = case / "bad.toml"
        if text is not None:
            text = text.replace("{dir}", str(case))
            if "[runtime]" not in text:
                text = f'[runtime]\ndata_dir = "{case}"\n' + text
            file.write_text(text)
        commands[key] = [a.replace("{file}", str(file)).replace("{dir}", str(case)) for a in args]
    yield root, run_all(commands, cwd=root)
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("case", list(BAD))
def test_bad_configuration_exits_1_naming_the_key(
    case: str, bad_runs: tuple[Path, dict[str, Result]]
) -> None:
    root, results = bad_runs
    result = results[case]
    assert_clean_failure(result, *BAD[case][2])
    assert "OK" not in result.stdout
    # Nothing was started: no server announced itself, no embedded Redis was spawned.
    assert "ready" not in result.stdout
    assert not (root / case / "redis.sock").exists()
    assert not (root / case / "redis.pid").exists()


# -- good files ----------------------------------------------------------------------------
def test_good_file_is_ok(write: Callable[..., Path], data_dir: Path) -> None:
    path = write('[server]\nport = 9001\n[plugins.analytics]\ngroup = "eu"\n')
    result = run("config", "check", str(path), cwd=data_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{path}: OK"
    assert not (data_dir / "redis.sock").exists()  # checking starts nothing


def test_repo_runtime_toml_is_ok(data_dir: Path) -> None:
    result = run("config", "check", str(REPO_ROOT / "runtime.toml"), cwd=data_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{REPO_ROOT / 'runtime.toml'}: OK"


def test_default_file_is_runtime_toml_in_the_working_directory(
    write: Callable[..., Path], data_dir: Path
) -> None:
    write("[server]\nport = 1\nnonsense = 2\n")
    assert_clean_failure(run("config", "check", cwd=data_dir), "runtime.toml", "server.nonsense: unknown key")


def test_present_env_var_is_ok_and_never_printed(write: Callable[..., Path], data_dir: Path) -> None:
    path = write(f'[bus]\nredis_url = "redis://127.0.0.1:1"\nredis_password_env = "{SECRET_VAR}"\n')
    secret = "cli-secret-value-7"
    result = run("config", "check", str(path), cwd=data_dir, env={SECRET_VAR: secret})
    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout + result.stderr


# -- plugin problems seen by config check --------------------------------------------------
def test_broken_plugin_is_fatal_only_when_strict(
    write: Callable[..., Path], data_dir: Path, fake_distribution: Callable[..., Path]
) -> None:
    site = fake_distribution(
        "fake_broken", {"broken": "fake_broken_mod"}, {"fake_broken_mod": "raise ImportError('no libfoo')\n"}
    )
    env = {"PYTHONPATH": str(site)}
    lenient = run("config", "check", str(write("")), cwd=data_dir, env=env)
    assert lenient.returncode == 0, lenient.stderr
    assert "broken" in lenient.stderr  # logged, not hidden

    strict = write("[runtime]\nstrict_plugins = true\n", name="strict.toml")
    assert_clean_failure(run("config", "check", str(strict), cwd=data_dir, env=env), "broken", "no libfoo")


def test_duplicate_event_type_from_a_plugin_exits_1(
    write: Callable[..., Path], data_dir: Path, fake_distribution: Callable[..., Path]
) -> None:
    source = """
        from artagent.events import Event
        from artagent.hookspecs import hookimpl

        class Shadow(Event, frozen=True, kw_only=True, tag="call_started"):
            pass

        @hookimpl
        def register_event_types():
            return [Shadow]
    """
    site = fake_distribution("fake_shadow", {"shadow": "fake_shadow_mod"}, {"fake_shadow_mod": source})
    result = run("config", "check", str(write("")), cwd=data_dir, env={"PYTHONPATH": str(site)})
    assert_clean_failure(result, "'call_started' from shadow is already registered by artagent")
