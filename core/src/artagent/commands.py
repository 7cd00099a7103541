"""Sub-commands plugins add to ``artagent`` (the ``register_commands`` hook)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from artagent.config import LoadedConfig

__all__ = ["Command"]


@dataclass(frozen=True)
class Command:
    """``artagent <name> ...``: ``configure`` adds arguments (and sub-parsers) to the command's
    parser; ``run`` gets the loaded runtime.toml (``--config``, added for every command) and
    the parsed arguments, and returns the exit status."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[LoadedConfig, argparse.Namespace], int]
