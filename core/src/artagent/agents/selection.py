"""Which scenario answers a call: by the number called, by the channel, or the default."""

from __future__ import annotations

from artagent.agents.catalog import AgentCatalog
from artagent.agents.definitions import ScenarioDefinition
from artagent.config import AgentsConfig, ConfigError, ConfigIssue

__all__ = ["ScenarioSelector", "UnknownScenarioError"]


class UnknownScenarioError(LookupError):
    """A caller (the browser page, ``artagent chat``) asked for a scenario that is not installed."""


class ScenarioSelector:
    """``[agents]`` checked against the catalogue at start-up, then asked once per call."""

    def __init__(self, config: AgentsConfig, catalog: AgentCatalog) -> None:
        self.config, self.catalog = config, catalog
        known = sorted(catalog.scenarios)
        listed = ", ".join(known) or "none installed"
        issues: list[ConfigIssue] = []
        rules = [("agents.scenario", config.scenario)]
        rules += [(f"agents.channels.{k}", v) for k, v in config.channels.items()]
        rules += [(f'agents.numbers."{k}"', v) for k, v in config.numbers.items()]
        for key, name in rules:
            if name and name not in catalog.scenarios:
                issues.append(ConfigIssue(key, f"no scenario named {name!r} (scenarios: {listed})"))
        if not config.scenario and len(known) > 1 and not issues:
            issues.append(
                ConfigIssue(
                    "agents.scenario", f"several scenarios are installed ({listed}): name the default"
                )
            )
        if issues:
            raise ConfigError(issues)
        self.default = config.scenario or (known[0] if known else "")

    def select(
        self, *, channel: str, callee: str | None = None, requested: str | None = None
    ) -> ScenarioDefinition | None:
        """The scenario for a call; ``None`` when none is installed (one plain assistant)."""
        if requested:
            found = self.catalog.scenarios.get(requested)
            if found is None:
                listed = ", ".join(sorted(self.catalog.scenarios)) or "none installed"
                raise UnknownScenarioError(f"no scenario named {requested!r} (scenarios: {listed})")
            return found
        name = (
            (callee and self.config.numbers.get(callee)) or self.config.channels.get(channel) or self.default
        )
        return self.catalog.scenarios.get(name) if name else None
