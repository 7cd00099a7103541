"""The ACS tests import their kit (a running server, the fake ACS REST service) from here."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
