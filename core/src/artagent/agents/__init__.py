"""Agents, scenarios, tools and model routing: who the caller talks to.

Agent authors write YAML definitions with Jinja prompts (:mod:`.definitions`), tools as typed
async functions (:mod:`.tools`), and ship both in a plugin (``register_agents``,
``register_tools``). The :class:`~artagent.agents.orchestrator.Orchestrator` runs a scenario's
agents on a call. See docs/agents.md.
"""

from artagent.agents.definitions import AgentDefinition, FieldSpec, FormSpec, ScenarioDefinition
from artagent.agents.tools import RecordStore, Tool, ToolContext, ToolError, ToolRegistry, tool
from artagent.session.tools import ToolResult

__all__ = [
    "AgentDefinition",
    "FieldSpec",
    "FormSpec",
    "RecordStore",
    "ScenarioDefinition",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolRegistry",
    "ToolResult",
    "tool",
]
