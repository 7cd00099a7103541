"""The slice of the Cosmos DB for NoSQL query language the fake endpoint evaluates.

``SELECT [TOP n] (* | c.a, c.b) FROM c [WHERE expr] [ORDER BY c.x [ASC|DESC], ...]`` with
``AND``/``OR``/``NOT``, comparisons, ``@parameters``, literals, ``ARRAY_CONTAINS`` and
``IS_DEFINED``. Comparing values of different types is *undefined* (not true), as in Cosmos DB.
Anything else is a syntax error, which the fake answers with 400 as the service does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")|(?P<param>@\w+)"
    r"|(?P<op><=|>=|!=|<>|[=<>(),.*\[\]])|(?P<word>[A-Za-z_]\w*))"
)
_UNDEFINED = object()


class QuerySyntaxError(ValueError):
    pass


@dataclass
class Query:
    top: int | None = None
    projection: list[list[str]] | None = None  # None: SELECT *
    where: Any = None
    order: list[tuple[list[str], bool]] = field(default_factory=list)  # (path, descending)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            raise QuerySyntaxError(f"syntax error near {text[pos : pos + 20]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str, params: Mapping[str, Any]) -> None:
        self.toks, self.i, self.params = _tokens(text), 0, params

    def peek(self, value: str | None = None) -> bool:
        if self.i >= len(self.toks):
            return False
        kind, tok = self.toks[self.i]
        return value is None or (tok.upper() == value.upper() and kind in ("word", "op"))

    def take(self, value: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.toks) or (value is not None and not self.peek(value)):
            raise QuerySyntaxError(f"expected {value or 'more'} at token {self.i}")
        self.i += 1
        return self.toks[self.i - 1]

    def query(self) -> Query:
        q = Query()
        self.take("SELECT")
        if self.peek("TOP"):
            self.take()
            kind, tok = self.take()
            q.top = int(self.params[tok] if kind == "param" else tok)
        if self.peek("*"):
            self.take()
        else:
            q.projection = [self.path()]
            while self.peek(","):
                self.take()
                q.projection.append(self.path())
        self.take("FROM")
        self.alias = self.take()[1]
        if self.peek("WHERE"):
            self.take()
            q.where = self.disjunction()
        if self.peek("ORDER"):
            self.take(), self.take("BY")
            while True:
                path, desc = self.path(), False
                if self.peek("ASC") or self.peek("DESC"):
                    desc = self.take()[1].upper() == "DESC"
                q.order.append((path, desc))
                if not self.peek(","):
                    break
                self.take()
        if self.i != len(self.toks):
            raise QuerySyntaxError(f"unexpected {self.toks[self.i][1]!r}")
        return q

    def path(self) -> list[str]:
        kind, root = self.take()
        if kind != "word":
            raise QuerySyntaxError(f"expected a property path, got {root!r}")
        parts = []
        while self.peek(".") or self.peek("["):
            if self.take()[1] == ".":
                parts.append(self.take()[1])
            else:
                parts.append(self.take()[1].strip("'\""))
                self.take("]")
        return parts

    def disjunction(self) -> Any:
        node = self.conjunction()
        while self.peek("OR"):
            self.take()
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> Any:
        node = self.negation()
        while self.peek("AND"):
            self.take()
            node = ("and", node, self.negation())
        return node

    def negation(self) -> Any:
        if self.peek("NOT"):
            self.take()
            return ("not", self.negation())
        left = self.operand()
        for op in ("<=", ">=", "!=", "<>", "=", "<", ">"):
            if self.peek(op):
                self.take()
                return ("cmp", op, left, self.operand())
        return left

    def operand(self) -> Any:
        kind, tok = self.toks[self.i] if self.i < len(self.toks) else ("", "")
        if tok == "(":
            self.take()
            node = self.disjunction()
            self.take(")")
            return node
        if kind == "num":
            self.take()
            return ("lit", float(tok) if "." in tok else int(tok))
        if kind == "str":
            self.take()
            return ("lit", tok[1:-1])
        if kind == "param":
            self.take()
            if tok not in self.params:
                raise QuerySyntaxError(f"parameter {tok} is not given")
            return ("lit", self.params[tok])
        if kind == "word" and tok.upper() in ("TRUE", "FALSE", "NULL"):
            self.take()
            return ("lit", {"TRUE": True, "FALSE": False, "NULL": None}[tok.upper()])
        if kind == "word" and self.i + 1 < len(self.toks) and self.toks[self.i + 1][1] == "(":
            name = self.take()[1].upper()
            self.take("(")
            args = [self.disjunction()]
            while self.peek(","):
                self.take()
                args.append(self.disjunction())
            self.take(")")
            if name not in ("ARRAY_CONTAINS", "IS_DEFINED"):
                raise QuerySyntaxError(f"function {name} is not supported by the fake")
            return ("fn", name, args)
        if kind == "word":
            return ("path", self.path())
        raise QuerySyntaxError(f"unexpected {tok!r}")


def parse(text: str, parameters: list[dict[str, Any]] | None = None) -> Query:
    params = {p["name"]: p["value"] for p in parameters or []}
    return _Parser(text, params).query()


def lookup(item: Any, path: list[str]) -> Any:
    for part in path:
        if isinstance(item, dict) and part in item:
            item = item[part]
        elif isinstance(item, list) and part.isdigit() and int(part) < len(item):
            item = item[int(part)]
        else:
            return _UNDEFINED
    return item


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "num"
    return type(value).__name__


def evaluate(node: Any, item: dict[str, Any]) -> Any:
    tag = node[0]
    if tag == "lit":
        return node[1]
    if tag == "path":
        return lookup(item, node[1])
    if tag == "and":
        return evaluate(node[1], item) is True and evaluate(node[2], item) is True
    if tag == "or":
        return evaluate(node[1], item) is True or evaluate(node[2], item) is True
    if tag == "not":
        value = evaluate(node[1], item)
        return (not value) if isinstance(value, bool) else _UNDEFINED
    if tag == "fn":
        args = [evaluate(a, item) for a in node[2]]
        if node[1] == "IS_DEFINED":
            return args[0] is not _UNDEFINED
        return isinstance(args[0], list) and args[1] in args[0]
    _, op, left, right = node
    a, b = evaluate(left, item), evaluate(right, item)
    if a is _UNDEFINED or b is _UNDEFINED or (_kind(a) != _kind(b) and op not in ("=", "!=", "<>")):
        return _UNDEFINED
    if op in ("=", "!=", "<>"):
        same = _kind(a) == _kind(b) and a == b
        return same if op == "=" else not same
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def run(query: Query, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [i for i in items if query.where is None or evaluate(query.where, i) is True]
    for path, desc in reversed(query.order):
        rows.sort(key=lambda i, p=path: _order_key(lookup(i, p)), reverse=desc)
    if query.top is not None:
        rows = rows[: query.top]
    if query.projection is not None:
        rows = [
            {p[-1]: lookup(r, p) for p in query.projection if lookup(r, p) is not _UNDEFINED} for r in rows
        ]
    return rows


def _order_key(value: Any) -> tuple[int, Any]:
    """Cosmos orders undefined < null < booleans < numbers < strings."""
    rank = {"bool": 2, "num": 3, "str": 4}.get(_kind(value), 1 if value is None else 0)
    return (rank, value if rank >= 2 else 0)
