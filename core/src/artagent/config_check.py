"""``artagent config check``: every problem of a configuration, reported at once.

Loading a file stops at its first group of errors, which suits ``serve``. A check should say
everything a deployment must fix in one run: so when the only problems are environment
variables that are not set, each is reported by the key that names it and the variable's name,
and the plugin tables are still checked (with stand-in empty values for the missing secrets).
A table for a plugin that is not installed, or that failed to load, is named too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from artagent.config import ConfigError, ConfigIssue, LoadedConfig, MissingSecret, load_config
from artagent.events import DuplicateEventTypeError
from artagent.plugins import PluginHost, PluginLoadError

__all__ = ["check_config"]


def check_config(
    path: Path | None,
    *,
    environ: Mapping[str, str] | None = None,
    host: PluginHost | None = None,
) -> list[ConfigIssue]:
    """Every problem found in ``path`` (built-in defaults for ``None``); empty means OK.

    ``host`` replaces entry-point discovery (for tests); by default installed plugins are loaded
    the way ``serve`` loads them.
    """
    env = dict(os.environ if environ is None else environ)
    try:
        loaded, issues = load_config(path, environ=env), []
    except ConfigError as exc:
        missing = [i for i in exc.issues if isinstance(i, MissingSecret)]
        if not missing or len(missing) != len(exc.issues):
            return list(exc.issues)
        loaded = load_config(path, environ=env | {i.variable: "" for i in missing})
        issues = list(missing)
    return issues + _plugin_issues(loaded, host)


def _plugin_issues(loaded: LoadedConfig, host: PluginHost | None) -> list[ConfigIssue]:
    """Build the runtime as ``serve`` would (this decodes every plugin table)."""
    from artagent.runtime import Runtime

    try:
        runtime = Runtime(loaded, host=host, load_entry_points=host is None)
    except ConfigError as exc:
        return list(exc.issues)
    except (PluginLoadError, DuplicateEventTypeError) as exc:
        return [ConfigIssue("", f"plugin error: {exc}")]
    tables = loaded.config.plugins
    return [
        ConfigIssue(f"plugins.{f.name}", f"not checked: the plugin failed to load ({f.error})")
        for f in runtime.plugins.failures
        if f.name in tables
    ]
