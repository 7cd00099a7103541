"""A local Azure Cosmos DB for NoSQL endpoint: a real HTTP(S) server on loopback that speaks the
REST protocol the ``azure-cosmos`` SDK uses, for the operations the history store needs.

Database account read; database read and create; container read, create and replace;
partition key ranges; documents create, upsert, read, replace (``If-Match``), delete and query
(:mod:`_fake_cosmos_sql`). Every request must carry ``x-ms-date`` and a valid ``Authorization``:
a master-key HMAC signature (checked against the key, as the service does) or an Entra ID
bearer token this fake was told to accept. Items expire by TTL (the container's
``defaultTtl`` or the item's ``ttl``, counted from ``_ts``) on the fake's own clock. An item
larger than 2 MB (its JSON, system properties included) is refused with 413, as the service does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from _fake_cosmos_sql import QuerySyntaxError, parse, run
from aiohttp import web

KEY = base64.b64encode(b"artagent-fake-cosmos-account-key-0123456789-abcdefghijklmnop").decode()
MAX_ITEM_BYTES = 2 * 1024 * 1024
"""Cosmos DB's limit on one item."""


@dataclass
class Container:
    props: dict[str, Any]
    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (pk json, id) -> item


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeCosmos:
    """Run with ``async with FakeCosmos() as fake`` and point a client at ``fake.endpoint``."""

    def __init__(self, *, key: str = KEY, tls: ssl.SSLContext | None = None) -> None:
        self.key = key
        self.tokens: set[str] = set()
        """Entra ID access tokens accepted as ``type=aad`` credentials."""
        self.tls = tls
        self.clock: Callable[[], float] = time.time
        self.databases: dict[str, dict[str, Any]] = {}
        self.containers: dict[tuple[str, str], Container] = {}
        self.requests: list[Request] = []
        self.fail_next: list[int] = []
        self.largest_item = 0
        """The size of the largest item written, in bytes of compact JSON."""
        """Statuses to answer the next document writes with (503: a throttled or failing service)."""
        self._runner: web.AppRunner | None = None
        self.endpoint = ""

    async def __aenter__(self) -> FakeCosmos:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.tls)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.endpoint = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}/"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- protocol ------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        parts = [urllib.parse.unquote(p) for p in request.path.strip("/").split("/") if p]
        self.requests.append(Request(request.method, "/" + "/".join(parts), dict(request.headers), body))
        denied = self._authorize(request, parts)
        if denied:
            return _error(401, "Unauthorized", denied)
        try:
            return self._route(request, parts, body)
        except QuerySyntaxError as exc:
            return _error(400, "BadRequest", f"Syntax error: {exc}")

    def _authorize(self, request: web.Request, parts: list[str]) -> str | None:
        auth = urllib.parse.unquote(request.headers.get("Authorization", ""))
        fields = dict(kv.split("=", 1) for kv in auth.split("&") if "=" in kv)
        date = request.headers.get("x-ms-date", "")
        if not date:
            return "the x-ms-date header is missing"
        if fields.get("type") == "aad":
            return None if fields.get("sig") in self.tokens else "the Entra ID token is not valid"
        if fields.get("type") != "master":
            return "no authorization"
        if len(parts) % 2 == 1:  # a feed: dbs, dbs/d/colls, .../docs
            rtype, link = (parts[-1], "/".join(parts[:-1]))
        else:
            rtype, link = (parts[-2] if parts else "", "/".join(parts))
        text = f"{request.method.lower()}\n{rtype.lower()}\n{link}\n{date.lower()}\n\n"
        digest = hmac.new(base64.b64decode(self.key), text.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), fields.get("sig", "")):
            return "The input authorization token can't serve the request (signature mismatch)"
        return None

    def _route(self, request: web.Request, parts: list[str], body: Any) -> web.Response:
        m, n = request.method, len(parts)
        if n == 0 and m == "GET":
            return self._account(request)
        if parts[0] != "dbs":
            return _error(404, "NotFound", "unknown resource")
        if n == 1 and m == "POST":
            return self._create_database(body)
        if n == 2 and m == "GET":
            db = self.databases.get(parts[1])
            return _json(db) if db else _error(404, "NotFound", f"database {parts[1]} does not exist")
        if n >= 3 and parts[1] not in self.databases:
            return _error(404, "NotFound", f"database {parts[1]} does not exist")
        if n == 3 and m == "POST":
            return self._create_container(parts[1], body)
        coll = self.containers.get((parts[1], parts[3])) if n >= 4 else None
        if coll is None:
            return _error(404, "NotFound", "container does not exist")
        if n == 4 and m == "GET":
            return _json(coll.props)
        if n == 4 and m == "PUT":
            system = {k: v for k, v in coll.props.items() if k.startswith("_")}
            coll.props = {**body, **system, "_etag": _etag()}
            return _json(coll.props)
        if n == 5 and parts[4] == "pkranges":
            ranges = [{"id": "0", "minInclusive": "", "maxExclusive": "FF", "parents": [], "_rid": "pk0"}]
            return _json({"_rid": coll.props["_rid"], "PartitionKeyRanges": ranges, "_count": 1})
        if n == 5 and parts[4] == "docs" and m == "POST":
            if request.headers.get("x-ms-documentdb-isquery", "").lower() == "true":
                return self._query(request, coll, body)
            return self._write(request, coll, body)
        if n == 6 and parts[4] == "docs":
            return self._item(request, coll, parts[5], body)
        return _error(405, "MethodNotAllowed", f"{m} {request.path} is not implemented by the fake")

    def _account(self, request: web.Request) -> web.Response:
        here = [{"name": "Local", "databaseAccountEndpoint": self.endpoint}]
        return _json({
            "id": "fake", "_rid": "fake", "_self": "", "media": "//media/", "addresses": "//addresses/",
            "_dbs": "//dbs/", "writableLocations": here, "readableLocations": here,
            "enableMultipleWriteLocations": False,
            "userConsistencyPolicy": {"defaultConsistencyLevel": "Session"},
            "userReplicationPolicy": {"minReplicaSetSize": 1, "maxReplicasetSize": 4},
            "systemReplicationPolicy": {"minReplicaSetSize": 1, "maxReplicasetSize": 4},
            "readPolicy": {"primaryReadCoefficient": 1, "secondaryReadCoefficient": 1},
            "queryEngineConfiguration": "{}",
        })  # fmt: skip

    def _create_database(self, body: dict[str, Any]) -> web.Response:
        name = body["id"]
        if name in self.databases:
            return _error(409, "Conflict", f"database {name} already exists")
        self.databases[name] = {"id": name, "_rid": _rid(), "_self": f"dbs/{name}/", "_etag": _etag(),
                                "_colls": "colls/", "_users": "users/", "_ts": int(self.clock())}  # fmt: skip
        return _json(self.databases[name], 201)

    def _create_container(self, db: str, body: dict[str, Any]) -> web.Response:
        name = body["id"]
        if (db, name) in self.containers:
            return _error(409, "Conflict", f"container {name} already exists")
        props = {**body, "_rid": _rid(), "_self": f"dbs/{db}/colls/{name}/", "_etag": _etag(),
                 "_docs": "docs/", "_ts": int(self.clock())}  # fmt: skip
        props.setdefault("indexingPolicy", {"indexingMode": "consistent", "automatic": True})
        self.containers[(db, name)] = Container(props)
        return _json(props, 201)

    # -- documents -----------------------------------------------------------------------------
    def _pk(self, request: web.Request) -> str | None:
        return request.headers.get("x-ms-documentdb-partitionkey")

    def _alive(self, coll: Container, item: dict[str, Any]) -> bool:
        ttl = item.get("ttl", coll.props.get("defaultTtl"))
        return ttl is None or ttl == -1 or item["_ts"] + ttl > self.clock()

    def _live_items(self, coll: Container) -> list[dict[str, Any]]:
        for key, item in list(coll.items.items()):
            if not self._alive(coll, item):
                del coll.items[key]
        return list(coll.items.values())

    def _stamp(
        self, request: web.Request, coll: Container, body: dict[str, Any]
    ) -> tuple[tuple[str, str], dict]:
        pk_path = coll.props["partitionKey"]["paths"][0].strip("/")
        pk = self._pk(request)
        if pk is None or json.loads(pk) != [body.get(pk_path)]:
            raise _Refused(400, "BadRequest", "the partition key header does not match the document")
        item = {**body, "_rid": _rid(), "_self": "", "_etag": _etag(), "_attachments": "attachments/",
                "_ts": int(self.clock())}  # fmt: skip
        size = len(json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode())
        if size > MAX_ITEM_BYTES:
            raise _Refused(413, "RequestEntityTooLarge", f"Request size is too large ({size} bytes)")
        self.largest_item = max(self.largest_item, size)
        return (pk, body["id"]), item

    def _write(self, request: web.Request, coll: Container, body: dict[str, Any]) -> web.Response:
        if self.fail_next:
            return _error(self.fail_next.pop(0), "ServiceUnavailable", "the fake was told to fail this write")
        try:
            key, item = self._stamp(request, coll, body)
        except _Refused as exc:
            return _error(exc.status, exc.code, exc.message)
        upsert = request.headers.get("x-ms-documentdb-is-upsert", "").lower() == "true"
        exists = key in coll.items and self._alive(coll, coll.items[key])
        if exists and not upsert:
            return _error(409, "Conflict", "Entity with the specified id already exists in the system.")
        coll.items[key] = item
        return _json(item, 200 if exists else 201)

    def _item(self, request: web.Request, coll: Container, item_id: str, body: Any) -> web.Response:
        pk = self._pk(request)
        key = (pk or "", item_id)
        current = coll.items.get(key)
        if current is not None and not self._alive(coll, current):
            del coll.items[key]
            current = None
        if current is None:
            return _error(404, "NotFound", "Entity with the specified id does not exist in the system.")
        if request.method == "GET":
            return _json(current)
        if request.method == "DELETE":
            del coll.items[key]
            return web.Response(status=204, headers=_headers())
        if request.method != "PUT":
            return _error(405, "MethodNotAllowed", "not implemented by the fake")
        if self.fail_next:
            return _error(self.fail_next.pop(0), "ServiceUnavailable", "the fake was told to fail this write")
        if_match = request.headers.get("If-Match")
        if if_match is not None and if_match != current["_etag"]:
            return _error(412, "PreconditionFailed", "Operation cannot be performed because one of the "
                          "specified precondition is not met.")  # fmt: skip
        try:
            _, item = self._stamp(request, coll, body)
        except _Refused as exc:
            return _error(exc.status, exc.code, exc.message)
        coll.items[key] = item
        return _json(item)

    def _query(self, request: web.Request, coll: Container, body: dict[str, Any]) -> web.Response:
        if request.headers.get("Content-Type", "").split(";")[0] != "application/query+json":
            return _error(400, "BadRequest", "a query needs Content-Type application/query+json")
        pk = self._pk(request)
        cross = request.headers.get("x-ms-documentdb-query-enablecrosspartition", "").lower() == "true"
        if pk is None and not cross:
            return _error(400, "BadRequest", "Cross partition query is required but disabled.")
        items = [i for (p, _), i in coll.items.items() if pk is None or p == pk]
        rows = run(parse(body["query"], body.get("parameters")), [i for i in items if self._alive(coll, i)])
        start = int(request.headers.get("x-ms-continuation") or 0)
        size = int(request.headers.get("x-ms-max-item-count") or -1)
        page = rows[start:] if size <= 0 else rows[start : start + size]
        headers = {"x-ms-item-count": str(len(page))}
        if size > 0 and start + size < len(rows):
            headers["x-ms-continuation"] = str(start + size)
        return _json({"_rid": coll.props["_rid"], "Documents": page, "_count": len(page)}, headers=headers)


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message


def _rid() -> str:
    return base64.b64encode(uuid.uuid4().bytes[:8]).decode()


def _etag() -> str:
    return f'"{uuid.uuid4()}"'


def _headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"x-ms-activity-id": str(uuid.uuid4()), "x-ms-request-charge": "1.0",
            "x-ms-session-token": "0:1#1", **(extra or {})}  # fmt: skip


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    extra = {"etag": body["_etag"]} if isinstance(body, dict) and "_etag" in body else {}
    return web.json_response(body, status=status, headers=_headers({**extra, **(headers or {})}))


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status, headers=_headers())
