"""Jinja templates of agents: prompts, greetings, questions and answers.

Every template is compiled when its definition loads (a syntax error stops the start-up and
names the file and key) and rendered per call with :class:`TemplateContext`. A name the
context lacks renders as nothing, so a greeting can say ``Hello {{ fields.caller_name }}``
before the name is known.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import jinja2

__all__ = ["TemplateError", "Templates", "spell"]


class TemplateError(ValueError):
    pass


def spell(value: Any) -> str:
    """Characters one by one, so an identifier is read out digit by digit:
    ``CLA-2026-000123`` -> ``C L A, 2 0 2 6, 0 0 0 1 2 3``."""
    groups = [" ".join(part) for part in str(value).replace(" ", "-").split("-") if part]
    return ", ".join(groups)


def first_name(value: Any) -> str:
    text = str(value or "").strip()
    return text.split()[0] if text else ""


def _spoken_date(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return str(value)
    if isinstance(value, dt.date):
        return f"{value:%A, %B} {value.day}, {value.year}"
    return str(value)


def _spoken_time(value: Any) -> str:
    """The time of day of an ISO 8601 time or date and time, as said: ``3 PM``, ``9:30 AM``;
    nothing for a date alone (no time was given)."""
    when: dt.time | None = None
    if isinstance(value, str):
        try:
            when = dt.time.fromisoformat(value) if ":" in value[:5] else None
            if when is None and "T" in value:
                when = dt.datetime.fromisoformat(value).time()
        except ValueError:
            return ""
    elif isinstance(value, dt.datetime):
        when = value.time()
    elif isinstance(value, dt.time):
        when = value
    if when is None:
        return ""
    hour = when.hour % 12 or 12
    minutes = f":{when.minute:02d}" if when.minute else ""
    return f"{hour}{minutes} {'AM' if when.hour < 12 else 'PM'}"


class Templates:
    """One Jinja environment per catalogue; templates cached by their text."""

    def __init__(self) -> None:
        self._env = jinja2.Environment(
            undefined=jinja2.ChainableUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self._env.filters.update(
            spell=spell, first_name=first_name, spoken_date=_spoken_date, spoken_time=_spoken_time
        )
        self._cache: dict[str, jinja2.Template] = {}

    def compile(self, text: str) -> jinja2.Template:
        """The compiled template; :class:`TemplateError` with Jinja's reason and line."""
        found = self._cache.get(text)
        if found is None:
            try:
                found = self._env.from_string(text)
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(f"template error on line {exc.lineno}: {exc.message}") from None
            self._cache[text] = found
        return found

    def render(self, text: str, context: Mapping[str, Any]) -> str:
        if not text:
            return ""
        if "{" not in text:
            return text
        try:
            return " ".join(self.compile(text).render(context).split())
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template could not be rendered: {exc}") from None

    def render_block(self, text: str, context: Mapping[str, Any]) -> str:
        """Like :meth:`render`, keeping line breaks (system prompts)."""
        if not text:
            return ""
        try:
            return self.compile(text).render(context).strip()
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template could not be rendered: {exc}") from None
