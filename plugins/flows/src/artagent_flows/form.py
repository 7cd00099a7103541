"""An agent's form as the engine works it: which fields apply, what is collected, what is
missing, when it is complete, and the values in the shape tools take.

The values live in the call's fields (shared with tools and the other agents); the order they
were collected in lives in the engine's memory, so a bare "no, ..." corrects the latest.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from artagent.agents.definitions import FieldSpec, FormSpec

from artagent_flows.extract import Value
from artagent_flows.memory import FlowMemory
from artagent_flows.values import from_json, to_json

__all__ = ["Form"]


class Form:
    def __init__(self, spec: FormSpec, fields: dict[str, Any], memory: FlowMemory) -> None:
        self.spec, self.values, self.memory = spec, fields, memory
        self.by_name = {f.name: f for f in spec.fields}

    def applies(self, field: FieldSpec) -> bool:
        """A field asked only when another yes_no field is true applies once that is known true."""
        return field.when is None or self.values.get(field.when) is True

    def has(self, name: str) -> bool:
        return self.values.get(name) not in (None, "")

    def collected(self) -> dict[str, Value]:
        """The form's values so far, oldest first, as the extraction library compares them."""
        order = [n for n in self.memory.order if n in self.by_name and self.has(n)]
        order += [n for n in self.by_name if self.has(n) and n not in order]
        return {n: from_json(self.by_name[n], self.values[n]) for n in order}

    def missing(self) -> list[FieldSpec]:
        """The fields still to ask, in the form's order: an optional one is asked once, and
        skipped when the answer gave nothing."""
        if self.spec.alternatives:
            group = self._closest_group()
            return [self.by_name[n] for n in group if not self.has(n)]
        return [
            f
            for f in self.spec.fields
            if self.applies(f) and not self.has(f.name) and (f.required or f.name not in self.memory.skipped)
        ]

    def open_fields(self) -> list[FieldSpec]:
        """Every field an answer may still fill or change (for out-of-turn answers)."""
        return [f for f in self.spec.fields if self.applies(f)]

    def _closest_group(self) -> list[str]:
        """The alternative group with the most values already (the first on a tie)."""
        groups = self.spec.alternatives
        return max(groups, key=lambda g: (sum(self.has(n) for n in g), -groups.index(g)))

    def complete(self) -> bool:
        if self.spec.alternatives:
            return any(all(self.has(n) for n in group) for group in self.spec.alternatives)
        return not self.missing()

    def set(self, name: str, value: Value) -> None:
        self.values[name] = to_json(value)
        if name in self.memory.order:
            self.memory.order.remove(name)
        self.memory.order.append(name)

    def clear(self, names: list[str]) -> None:
        for name in names:
            self.values.pop(name, None)
            if name in self.memory.order:
                self.memory.order.remove(name)
            self.memory.partial.pop(name, None)

    def arguments(self) -> dict[str, Any]:
        """What the form's tool is called with: every applicable field known."""
        if self.spec.alternatives:
            group = next(g for g in self.spec.alternatives if all(self.has(n) for n in g))
            return {n: self.values[n] for n in group}
        return {f.name: self.values[f.name] for f in self.spec.fields if self.applies(f) and self.has(f.name)}

    def mentioned(self, text: str) -> list[str]:
        """Fields a tool's error message names (by name or alias): the ones to ask again."""
        lowered = text.lower()
        exact = [f.name for f in self.spec.fields if re.search(rf"\b{re.escape(f.name)}\b", lowered)]
        if exact:
            return exact
        found = []
        for field in self.spec.fields:
            words = [field.name.replace("_", " "), *field.aliases]
            if any(re.search(rf"\b{re.escape(w.lower())}\b", lowered) for w in words if w):
                found.append(field.name)
        return found

    def prefill(self) -> None:
        """Fields whose value the call already knows under another name (``prefill``)."""
        for field in self.spec.fields:
            if (
                field.prefill
                and not self.has(field.name)
                and self.values.get(field.prefill) not in (None, "")
            ):
                self.values[field.name] = self.values[field.prefill]

    def combine_partial(
        self, field: FieldSpec, part: Mapping[str, str], tz: dt.tzinfo | None
    ) -> Value | None:
        """A datetime from its two halves heard in different answers."""
        if "date" in part and "time" in part:
            day, clock = dt.date.fromisoformat(part["date"]), dt.time.fromisoformat(part["time"])
            return dt.datetime.combine(day, clock, tzinfo=tz)
        return None
