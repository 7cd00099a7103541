"""The browser plugin: discovered by its entry point, its table decoded with errors on dotted
keys, the page and its files served from package data, and no core route on ``/``."""

from __future__ import annotations

import importlib.metadata as md
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import artagent_browser.hooks
import httpx
import pytest
from _browserkit import serve
from artagent.app import create_app
from artagent.config import ConfigError, LoadedConfig
from artagent.plugins import PluginHost
from artagent.runtime import Runtime
from artagent_browser.routes import STATIC

ARTAGENT = str(Path(sys.executable).parent / "artagent")
READY = re.compile(r"ARTAgent is ready: (http://[\d.]+:\d+/)")


def test_the_plugin_is_discovered_through_its_entry_point() -> None:
    points = {ep.name: ep for ep in md.entry_points(group="artagent")}
    assert points["browser"].value == "artagent_browser.hooks"
    host = PluginHost()
    host.load_entry_points()
    assert "browser" not in {f.name for f in host.failures}
    assert host.plugins["browser"].distribution == "artagent-browser"


def _runtime(
    make_config: Callable[..., LoadedConfig], text: str, environ: dict[str, str] | None = None
) -> Runtime:
    host = PluginHost()
    host.register("browser", artagent_browser.hooks)
    return Runtime(make_config(text, environ=environ), host=host, load_entry_points=False)


def _problems(make_config: Callable[..., LoadedConfig], table: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        _runtime(make_config, "[plugins.browser]\n" + table)
    return [str(issue) for issue in raised.value.issues]


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('auth = "password"', ['plugins.browser.password_env: required when auth = "password"']),
        (
            'auth = "oidc"',
            [
                'plugins.browser.oidc.issuer: required when auth = "oidc"',
                'plugins.browser.oidc.audience: required when auth = "oidc"',
                "plugins.browser.oidc.jwks_url: give exactly one of jwks_url and jwks_file",
            ],
        ),
        (
            'auth = "oidc"\n[plugins.browser.oidc]\nissuer = "i"\naudience = "a"\njwks_url = "ftp://x"\n'
            'algorithms = ["HS256"]',
            [
                "plugins.browser.oidc.jwks_url: must be an https:// URL, not 'ftp://x'",
                "plugins.browser.oidc.algorithms: list asymmetric algorithms such as RS256 or ES256",
            ],
        ),
        ('auth = "magic"', ["plugins.browser.auth: Invalid enum value 'magic'"]),
        (
            "[plugins.browser.limits]\nmax_message_bytes = 100",
            ["plugins.browser.limits.max_message_bytes: Expected `int` >= 640"],
        ),
        ("[plugins.browser.limits]\nrate = 5", ["plugins.browser.limits.rate: unknown key"]),
        ("token_ttl_s = 0", ["plugins.browser.token_ttl_s: Expected `float` > 0.0"]),
    ],
    ids=["password", "oidc", "oidc-values", "auth", "size", "unknown", "ttl"],
)
def test_config_errors_name_their_key(
    make_config: Callable[..., LoadedConfig], table: str, expected: list[str]
) -> None:
    found = _problems(make_config, table)
    assert [re.sub(r"\s+", " ", p) for p in found] == expected


def test_a_password_variable_that_is_not_set_is_an_error(make_config: Callable[..., LoadedConfig]) -> None:
    with pytest.raises(ConfigError) as raised:
        make_config('[plugins.browser]\nauth = "password"\npassword_env = "PAGE_PASSWORD"\n')
    assert [str(i) for i in raised.value.issues] == [
        "plugins.browser.password_env: environment variable PAGE_PASSWORD is not set"
    ]


def test_no_core_route_takes_the_root(make_config: Callable[..., LoadedConfig]) -> None:
    host = PluginHost()  # core alone
    app = create_app(Runtime(make_config(""), host=host, load_entry_points=False))
    assert "/" not in {route.path for route in app.routes}


def test_the_page_and_its_files_are_package_data() -> None:
    names = {p.name for p in STATIC.iterdir()}
    assert {"index.html", "app.js", "audio.js", "render.js", "style.css",
            "capture-worklet.js", "playback-worklet.js"} <= names  # fmt: skip
    html = (STATIC / "index.html").read_text()
    for asset in re.findall(r'(?:src|href)="/browser/([\w.-]+)"', html):
        assert (STATIC / asset).is_file(), asset


async def test_the_root_serves_the_page(data_dir: Path) -> None:
    async with serve(data_dir) as server:
        page = await server.http.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "<title>ARTAgent" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        for asset in ("app.js", "audio.js", "render.js", "capture-worklet.js", "playback-worklet.js"):
            served = await server.http.get(f"/browser/{asset}")
            assert served.status_code == 200 and "javascript" in served.headers["content-type"], asset
        assert (await server.http.get("/browser/../routes.py")).status_code == 404
        assert (await server.http.get("/readiness")).status_code == 200


async def test_the_page_can_be_turned_off(data_dir: Path) -> None:
    async with serve(
        data_dir, extra='[plugins.browser]\npage = false\nsecret_env = "BROWSER_SECRET"\n'
    ) as server:
        assert (await server.http.get("/")).status_code == 404
        assert (await server.http.get("/browser/app.js")).status_code == 404
        assert (await server.http.post("/api/v1/browser/sessions")).status_code == 201


def test_the_link_artagent_serve_prints_opens_the_page(data_dir: Path) -> None:
    """``make run`` is ``artagent serve``: the address it announces is the page."""
    config = data_dir / "runtime.toml"
    config.write_text(f'[runtime]\ndata_dir = "{data_dir}/state"\n[server]\nport = 0\n')
    proc = subprocess.Popen([ARTAGENT, "serve", "--config", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        url = next(m.group(1) for line in proc.stdout if (m := READY.search(line)))
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200 and "<title>ARTAgent" in page.text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
