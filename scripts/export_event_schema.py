"""Export the event catalogue: docs/events.schema.json and the field tables in docs/events.md.

The catalogue is the one a runtime builds: the core event types plus the event types of every
installed plugin (entry-point group ``artagent``). Output is deterministic (sorted keys, two-space
indent, trailing newline), so the committed files can be compared with a fresh export.

    python scripts/export_event_schema.py           # rewrite both files
    python scripts/export_event_schema.py --check   # exit 1 if either committed file is stale

The tables in docs/events.md are replaced between the ``<!-- event-tables:begin -->`` and
``<!-- event-tables:end -->`` markers; the prose around them is left alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec
import msgspec.inspect as mi
from artagent.events import Event, EventCatalogue, new_event_id, utc_now
from artagent.plugins import PluginHost

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "docs" / "events.schema.json"
EVENTS_DOC = ROOT / "docs" / "events.md"
BEGIN = "<!-- event-tables:begin -->"
END = "<!-- event-tables:end -->"
COMMON = ("type", "call_id", "seq", "event_id", "occurred_at", "traceparent")


class ExportError(RuntimeError):
    pass


def build_catalogue() -> EventCatalogue:
    """Core event types plus those of every installed plugin; a plugin that fails is an error."""
    host = PluginHost()
    host.load_entry_points()
    if host.failures:
        names = "; ".join(f"{f.name}: {f.error}" for f in host.failures)
        raise ExportError(f"plugins failed to load, the export would be incomplete: {names}")
    catalogue = EventCatalogue()
    for owner, event_type in host.event_types(catalogue):
        catalogue.register(event_type, owner=owner)
    return catalogue


def render_schema(catalogue: EventCatalogue) -> str:
    return json.dumps(catalogue.json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# -- markdown tables -----------------------------------------------------------------------
def _type_text(t: mi.Type, nested: dict[str, type[msgspec.Struct]]) -> str:
    simple = {
        mi.StrType: "string",
        mi.IntType: "integer",
        mi.FloatType: "number",
        mi.BoolType: "boolean",
        mi.NoneType: "null",
        mi.AnyType: "any JSON value",
        mi.DateTimeType: "RFC 3339 date-time string",
    }
    for kind, text in simple.items():
        if isinstance(t, kind):
            return text
    if isinstance(t, mi.UnionType):
        return " \\| ".join(_type_text(member, nested) for member in t.types)
    if isinstance(t, mi.LiteralType):
        return " \\| ".join(f"`{json.dumps(v)}`" for v in t.values)
    if isinstance(t, mi.DictType):
        return f"object of {_type_text(t.value_type, nested)}"
    if isinstance(t, mi.ListType):
        return f"array of {_type_text(t.item_type, nested)}"
    if isinstance(t, mi.StructType):
        nested[t.cls.__name__] = t.cls
        return f"[{t.cls.__name__}](#{t.cls.__name__.lower()})"
    return type(t).__name__.removesuffix("Type").lower()


def _default_text(field: mi.Field) -> str:
    if field.required:
        return "required"
    factories = {new_event_id: "a new UUIDv7", utc_now: "now, UTC", dict: "`{}`", list: "`[]`"}
    if field.default_factory is not msgspec.NODEFAULT:
        return factories.get(field.default_factory, "computed")
    return f"`{msgspec.json.encode(field.default).decode()}`"


def _field_line(field: mi.Field, nested: dict[str, type[msgspec.Struct]]) -> str:
    return f"`{field.name}`: {_type_text(field.type, nested)} = {_default_text(field)}"


def _fields(cls: type[msgspec.Struct]) -> tuple[mi.Field, ...]:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    return info.fields


def render_tables(catalogue: EventCatalogue) -> str:
    """The common-field table, one row per event type, and a table per nested Struct."""
    nested: dict[str, type[msgspec.Struct]] = {}
    common = {f.name: f for f in _fields(Event)}
    lines = ["| Field | Type | Default |", "|---|---|---|", "| `type` | string: the event's tag | required |"]
    for name in COMMON[1:]:
        f = common[name]
        lines.append(f"| `{name}` | {_type_text(f.type, nested)} | {_default_text(f)} |")
    lines += ["", "| `type` | Registered by | Fields (besides the common ones) |", "|---|---|---|"]
    for event_type in catalogue:
        tag = event_type.type_tag()
        own = [_field_line(f, nested) for f in _fields(event_type) if f.name not in common]
        lines.append(f"| `{tag}` | {catalogue.owner(tag)} | {'<br>'.join(own) or '(none)'} |")
    done: set[str] = set()
    while len(done) < len(nested):
        name = sorted(set(nested) - done)[0]
        done.add(name)
        lines += ["", f"#### {name}", "", "| Field | Type | Default |", "|---|---|---|"]
        for f in _fields(nested[name]):
            lines.append(f"| `{f.name}` | {_type_text(f.type, nested)} | {_default_text(f)} |")
    return "\n".join(lines) + "\n"


def splice_tables(doc: str, tables: str) -> str:
    """``doc`` with the text between the markers replaced by ``tables``."""
    start, end = doc.find(BEGIN), doc.find(END)
    if start < 0 or end < start:
        raise ExportError(f"{EVENTS_DOC} lacks the {BEGIN} ... {END} markers")
    return doc[: start + len(BEGIN)] + "\n" + tables + doc[end:]


# -- command line --------------------------------------------------------------------------
def _stale(path: Path, fresh: str) -> bool:
    return not path.exists() or path.read_text(encoding="utf-8") != fresh


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed file is stale")
    args = parser.parse_args(argv)
    try:
        catalogue = build_catalogue()
        outputs: dict[Path, str] = {SCHEMA_PATH: render_schema(catalogue)}
        if EVENTS_DOC.exists():
            doc = EVENTS_DOC.read_text(encoding="utf-8")
            outputs[EVENTS_DOC] = splice_tables(doc, render_tables(catalogue))
    except ExportError as exc:
        print(f"export_event_schema: {exc}", file=sys.stderr)
        return 2
    stale = [path for path, text in outputs.items() if _stale(path, text)]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run python scripts/export_event_schema.py",
                  file=sys.stderr)  # fmt: skip
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(outputs[path], encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
