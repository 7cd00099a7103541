"""Import the bench-only plugin's package (scripts/loadbench) in this process, by its path.

Its folder is never put on ``sys.path``: package metadata there (an ``*.egg-info`` a build left)
would make every runtime built in this process load the plugin through its entry point, and
change what tests see. Importing the package itself is all the benchmark and its tests need
(the markers, the providers to test); the servers get the plugin installed, on their own path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent / "loadbench" / "src" / "artagent_loadbench"


def import_bench_plugin() -> None:
    """Make ``artagent_loadbench`` and its submodules importable (once)."""
    if "artagent_loadbench" in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(
        "artagent_loadbench", PACKAGE / "__init__.py", submodule_search_locations=[str(PACKAGE)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["artagent_loadbench"] = module
    spec.loader.exec_module(module)


import_bench_plugin()
