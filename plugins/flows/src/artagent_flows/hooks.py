"""Hook implementations of the flows plugin (only hooks live here).

The plugin registers no hooks yet: the flow engine's router is registered once core's model-router
hook exists. Being listed in the ``artagent`` entry-point group is what makes it discoverable.
"""

from __future__ import annotations
