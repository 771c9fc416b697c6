"""Databases, tables and their flexible schemas, kept in etcd, with Timestream's names, limits and defaults."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncGenerator, Sequence
from typing import Any
from urllib.parse import unquote

import structlog

from services.discovery import keys, routing_map, table_schema
from services.discovery.kv import Change, KeyValueStore, Snapshot
from services.discovery.registry import Registry, cell_names, dumps
from tessera import arns, errors, layout, limits
from tessera.v1 import catalog_pb2, common_pb2

ARN_PREFIX = "arn:tessera:timestream:local:000000000000"
# A table is its document and its columns, both under this prefix (with databases, which the table watch
# skips): one scan of it is every table at one revision, and one watch of it sees every change.
CATALOG_PREFIX = f"{keys.ROOT}/catalog/"
assert keys.TABLES.startswith(CATALOG_PREFIX) and keys.COLUMNS.startswith(CATALOG_PREFIX)
TABLE_ID_MAX_BYTES = 64
WATCH_RESYNC_DELAY_S = 0.5
"""After a lost etcd watch, wait this long before reading every table again (no hot loop if etcd flaps)."""
Kind = catalog_pb2.TableEvent.Kind
log = structlog.get_logger()


def _now_ms() -> int:
    return int(time.time() * 1000)


def validate_name(field: str, name: str, max_bytes: int) -> None:
    """Timestream's create-time name rule: 3..max bytes of [a-zA-Z0-9_.-]."""
    size = len(name.encode())
    if not 3 <= size <= max_bytes:
        raise errors.ValidationError(f"{field} '{name}' must be 3 to {max_bytes} bytes long (it is {size})")
    if not limits.NAME_PATTERN.match(name):
        raise errors.ValidationError(f"{field} '{name}' may contain only letters, digits, '_', '.' and '-'")


def _validate_lookup(field: str, name: str, max_bytes: int) -> None:
    if not name or len(name.encode()) > max_bytes:
        raise errors.ValidationError(f"{field} is required and at most {max_bytes} bytes")


def _retention(props: catalog_pb2.RetentionProperties | None) -> tuple[int, int]:
    if props is None:
        return limits.DEFAULT_MEMORY_RETENTION_HOURS, limits.DEFAULT_MAGNETIC_RETENTION_DAYS
    hours = props.memory_store_retention_period_in_hours
    days = props.magnetic_store_retention_period_in_days
    if not limits.MEMORY_RETENTION_HOURS_MIN <= hours <= limits.MEMORY_RETENTION_HOURS_MAX:
        raise errors.ValidationError(
            f"RetentionProperties.MemoryStoreRetentionPeriodInHours {hours} is out of range: "
            f"{limits.MEMORY_RETENTION_HOURS_MIN}..{limits.MEMORY_RETENTION_HOURS_MAX}")
    if not limits.MAGNETIC_RETENTION_DAYS_MIN <= days <= limits.MAGNETIC_RETENTION_DAYS_MAX:
        raise errors.ValidationError(
            f"RetentionProperties.MagneticStoreRetentionPeriodInDays {days} is out of range: "
            f"{limits.MAGNETIC_RETENTION_DAYS_MIN}..{limits.MAGNETIC_RETENTION_DAYS_MAX}")
    return hours, days


def _magnetic(props: catalog_pb2.MagneticStoreWriteProperties | None) -> dict[str, Any]:
    if props is None:
        return {"enabled": False}
    s3 = props.magnetic_store_rejected_data_location.s3_configuration
    if s3.encryption_option and s3.encryption_option not in ("SSE_S3", "SSE_KMS"):
        raise errors.ValidationError(
            f"S3Configuration.EncryptionOption '{s3.encryption_option}' must be SSE_S3 or SSE_KMS")
    return {"enabled": props.enable_magnetic_store_writes, "bucket": s3.bucket_name,
            "prefix": s3.object_key_prefix, "encryption": s3.encryption_option, "kms": s3.kms_key_id}


TAG_ATTEMPTS = 8


def _tags(tags: Sequence[catalog_pb2.Tag], current: dict[str, str] | None = None) -> dict[str, str]:
    """``current`` with ``tags`` added or replaced, validated against Timestream's tag limits."""
    out = dict(current or {})
    for i, tag in enumerate(tags):
        if not 1 <= len(tag.key) <= limits.TAG_KEY_MAX_CHARS:
            raise errors.ValidationError(f"Tags[{i}].Key must be 1..{limits.TAG_KEY_MAX_CHARS} characters "
                                         f"(it is {len(tag.key)})")
        if len(tag.value) > limits.TAG_VALUE_MAX_CHARS:
            raise errors.ValidationError(f"Tags[{i}].Value must be at most {limits.TAG_VALUE_MAX_CHARS} characters "
                                         f"(it is {len(tag.value)})")
        out[tag.key] = tag.value
    if len(out) > limits.MAX_TAGS_PER_RESOURCE:
        raise errors.ValidationError(f"a resource may carry at most {limits.MAX_TAGS_PER_RESOURCE} tags; this "
                                     f"would make {len(out)}")
    return out


def _page(names: list[str], max_results: int, next_token: str) -> tuple[list[str], str]:
    if max_results == 0:
        max_results = limits.LIST_MAX_RESULTS
    if not 1 <= max_results <= limits.LIST_MAX_RESULTS:
        raise errors.ValidationError(f"MaxResults {max_results} is out of range: 1..{limits.LIST_MAX_RESULTS}")
    after = ""
    if next_token:
        try:
            after = base64.b64decode(next_token.encode(), altchars=b"-_", validate=True).decode()
        except ValueError as exc:
            raise errors.ValidationError("NextToken is invalid: pass the token a previous call returned") from exc
    rest = [n for n in sorted(names) if n > after]
    page = rest[:max_results]
    token = base64.urlsafe_b64encode(page[-1].encode()).decode() if len(rest) > max_results else ""
    return page, token


def table_message(doc: dict[str, Any], columns: list[common_pb2.Column]) -> catalog_pb2.Table:
    """The Timestream-shaped description of a stored table document and its columns."""
    m = doc["magnetic"]
    return catalog_pb2.Table(
        arn=f"{ARN_PREFIX}:database/{doc['database']}/table/{doc['name']}", table_name=doc["name"],
        database_name=doc["database"], table_status="ACTIVE",
        retention_properties=catalog_pb2.RetentionProperties(
            memory_store_retention_period_in_hours=doc["memory_hours"],
            magnetic_store_retention_period_in_days=doc["magnetic_days"]),
        magnetic_store_write_properties=catalog_pb2.MagneticStoreWriteProperties(
            enable_magnetic_store_writes=m["enabled"],
            magnetic_store_rejected_data_location=catalog_pb2.MagneticStoreRejectedDataLocation(
                s3_configuration=catalog_pb2.S3Configuration(
                    bucket_name=m.get("bucket", ""), object_key_prefix=m.get("prefix", ""),
                    encryption_option=m.get("encryption", ""), kms_key_id=m.get("kms", "")))),
        creation_time_ms=doc["created"], last_updated_time_ms=doc["updated"], table_id=doc["table_id"],
        columns=columns, schema=table_schema.message(doc))


def _column(raw: bytes) -> common_pb2.Column:
    c = json.loads(raw)
    return common_pb2.Column(name=c["name"], kind=c["kind"], type=c["type"])


class Catalog:
    """The catalog operations; every state change is one etcd transaction."""

    def __init__(self, store: KeyValueStore, registry: Registry) -> None:
        self._store = store
        self._registry = registry

    # -- databases ---------------------------------------------------------------------------------
    async def _database_doc(self, name: str) -> dict[str, Any]:
        _validate_lookup("DatabaseName", name, limits.DATABASE_NAME_MAX_BYTES)
        raw = await self._store.get(keys.database(name))
        if raw is None:
            raise errors.NotFound(f"The database {name} does not exist.")
        doc: dict[str, Any] = json.loads(raw)
        return doc

    async def _database_proto(self, doc: dict[str, Any]) -> catalog_pb2.Database:
        count = len(await self._store.get_prefix(keys.tables_of(doc["name"])))
        return catalog_pb2.Database(
            arn=f"{ARN_PREFIX}:database/{doc['name']}", database_name=doc["name"], table_count=count,
            kms_key_id=doc.get("kms", ""), creation_time_ms=doc["created"], last_updated_time_ms=doc["updated"])

    async def create_database(self, name: str, kms_key_id: str, tags: Sequence[catalog_pb2.Tag] = ()
                              ) -> catalog_pb2.Database:
        validate_name("DatabaseName", name, limits.DATABASE_NAME_MAX_BYTES)
        tagged = _tags(tags)
        if len(await self._store.get_prefix(keys.DATABASES)) >= limits.MAX_DATABASES:
            raise errors.Throttled(f"cannot create database {name}: the limit of {limits.MAX_DATABASES} databases "
                                   "is reached (delete unused databases)")
        now = _now_ms()
        doc: dict[str, Any] = {"name": name, "kms": kms_key_id, "created": now, "updated": now}
        if tagged:
            doc["tags"] = tagged
        if not await self._store.create({keys.database(name): dumps(doc)}):
            raise errors.Conflict(f"The database {name} already exists.")
        return await self._database_proto(doc)

    async def describe_database(self, name: str) -> catalog_pb2.Database:
        return await self._database_proto(await self._database_doc(name))

    async def update_database(self, name: str, kms_key_id: str) -> catalog_pb2.Database:
        if not kms_key_id:
            raise errors.ValidationError("KmsKeyId is required for UpdateDatabase")
        doc = await self._database_doc(name)
        raw = dumps(doc)
        doc.update(kms=kms_key_id, updated=_now_ms())
        if not await self._store.replace(keys.database(name), raw, dumps(doc)):
            raise errors.Conflict(f"The database {name} changed during the update; retry")
        return await self._database_proto(doc)

    async def delete_database(self, name: str) -> None:
        await self._database_doc(name)
        if await self._store.get_prefix(keys.tables_of(name)):
            raise errors.ValidationError(f"The database {name} is not empty: delete its tables first")
        await self._store.delete([keys.database(name)])

    async def list_databases(self, max_results: int, next_token: str) -> tuple[list[catalog_pb2.Database], str]:
        docs = {json.loads(v)["name"]: json.loads(v) for _, v in await self._store.get_prefix(keys.DATABASES)}
        page, token = _page(list(docs), max_results, next_token)
        return [await self._database_proto(docs[n]) for n in page], token

    # -- tables ------------------------------------------------------------------------------------
    async def table_doc(self, db: str, name: str) -> dict[str, Any]:
        """The stored table document, or NotFound."""
        await self._database_doc(db)
        _validate_lookup("TableName", name, limits.TABLE_NAME_MAX_BYTES)
        raw = await self._store.get(keys.table(db, name))
        if raw is None:
            raise errors.NotFound(f"The table {name} does not exist in database {db}.")
        doc: dict[str, Any] = json.loads(raw)
        return doc

    async def columns(self, table_id: str) -> list[common_pb2.Column]:
        """The table's registered columns, by name."""
        return [_column(raw) for _, raw in await self._store.get_prefix(keys.columns_of(table_id))]

    async def table_proto(self, doc: dict[str, Any]) -> catalog_pb2.Table:
        """The Timestream-shaped table description."""
        return table_message(doc, await self.columns(doc["table_id"]))

    async def table_by_id(self, table_id: str) -> tuple[catalog_pb2.Table, int]:
        """A table by its id, with an etcd revision up to which every change of it is included; NotFound once
        the table is deleted (ids are never reused)."""
        _validate_lookup("TableId", table_id, TABLE_ID_MAX_BYTES)
        await routing_map.load(self._store, table_id)  # a deleted table is NotFound here, without a scan
        # No id → name index in etcd: scan the table documents (one range read; nodes ask only on a cache
        # miss). Columns are read after, so they are at least as new as the scan's revision.
        tables = await self._store.scan(keys.TABLES)
        needle = table_id.encode()
        for entry in tables.entries:
            if needle in entry.value:
                doc: dict[str, Any] = json.loads(entry.value)
                if doc["table_id"] == table_id:
                    return await self.table_proto(doc), tables.revision
        raise errors.NotFound(f"no table has id {table_id}: it was deleted")

    async def watch_tables(self) -> AsyncGenerator[catalog_pb2.TableEvent, None]:
        """Every table (a snapshot between SNAPSHOT_BEGIN and SNAPSHOT_END), then one event per change.

        When the etcd watch is lost (etcd restarted, or the watch fell behind a compaction) the changes in
        between are unknown, so a whole new snapshot is sent: a deletion is never missed. Raises Unavailable
        (ending the stream) only when etcd cannot be read at all.
        """
        while True:
            snapshot = await self._store.scan(CATALOG_PREFIX)
            tables = TableStates(snapshot)
            yield catalog_pb2.TableEvent(kind=Kind.SNAPSHOT_BEGIN, revision=snapshot.revision)
            for event in tables.snapshot():
                yield event
            yield catalog_pb2.TableEvent(kind=Kind.SNAPSHOT_END, revision=snapshot.revision)
            try:
                async for change in self._store.watch(CATALOG_PREFIX, snapshot.revision + 1):
                    for event in tables.apply(change):
                        yield event
            except errors.Unavailable as exc:
                log.warning("table_watch_lost", error=exc.message)
            await asyncio.sleep(WATCH_RESYNC_DELAY_S)

    async def create_table(self, req: catalog_pb2.CreateTableRequest) -> catalog_pb2.Table:
        await self._database_doc(req.database_name)
        validate_name("TableName", req.table_name, limits.TABLE_NAME_MAX_BYTES)
        hours, days = _retention(req.retention_properties if req.HasField("retention_properties") else None)
        magnetic = _magnetic(req.magnetic_store_write_properties
                             if req.HasField("magnetic_store_write_properties") else None)
        key = table_schema.validated(req.schema) if req.HasField("schema") else None
        tagged = _tags(req.tags)
        if len(await self._store.get_prefix(keys.TABLES)) >= limits.MAX_TABLES:
            raise errors.Throttled(f"cannot create table: the limit of {limits.MAX_TABLES} tables is reached")
        cells = cell_names(await self._registry.cells())
        if not cells:
            raise errors.Unavailable("no cell is ready to own a table: a cell needs 3 storage, 1 ingest and "
                                     "1 query node registered (see `tessera status`)")
        unknown = [c for c in req.cells if c not in cells]
        if unknown:
            raise errors.ValidationError(f"cells {unknown} are not ready cells (ready: {sorted(cells)})")
        counts = await routing_map.table_counts(self._store)
        cell = min(cells, key=lambda c: (counts.get(c, 0), c))
        routing = routing_map.spread(list(req.cells)) if req.cells else routing_map.initial(cell)
        now = _now_ms()
        table_id = uuid.uuid4().hex[:16]
        doc = {"name": req.table_name, "database": req.database_name, "table_id": table_id,
               "memory_hours": hours, "magnetic_days": days, "magnetic": magnetic, "created": now, "updated": now}
        if key is not None:  # only tables with a key carry the field: other documents are as before
            doc["partition_key"] = key
        if tagged:
            doc["tags"] = tagged
        puts = {keys.table(req.database_name, req.table_name): dumps(doc),
                keys.routing(table_id): dumps(routing)}
        if not await self._store.create(puts):
            raise errors.Conflict(f"The table {req.table_name} already exists in database {req.database_name}.")
        return await self.table_proto(doc)

    async def update_table(self, req: catalog_pb2.UpdateTableRequest) -> catalog_pb2.Table:
        doc = await self.table_doc(req.database_name, req.table_name)
        raw = dumps(doc)
        if req.HasField("retention_properties"):
            doc["memory_hours"], doc["magnetic_days"] = _retention(req.retention_properties)
        if req.HasField("magnetic_store_write_properties"):
            doc["magnetic"] = _magnetic(req.magnetic_store_write_properties)
        if req.HasField("schema"):
            # Only enforcement may change: the key's type and name decide where every stored row is.
            doc["partition_key"] = table_schema.changed_enforcement(doc.get("partition_key"), req.schema,
                                                                      req.table_name)
        doc["updated"] = _now_ms()
        if not await self._store.replace(keys.table(req.database_name, req.table_name), raw, dumps(doc)):
            raise errors.Conflict(f"The table {req.table_name} changed during the update; retry")
        return await self.table_proto(doc)

    async def delete_table(self, db: str, name: str) -> None:
        doc = await self.table_doc(db, name)
        # The table id is never reused, so replicas' leftover tiles can never reappear under a new table.
        await self._store.delete([keys.table(db, name), keys.routing(doc["table_id"])],
                                 prefixes=[keys.columns_of(doc["table_id"])])

    async def list_tables(self, db: str, max_results: int, next_token: str) -> tuple[list[catalog_pb2.Table], str]:
        """A page of a database's tables, or of every database's tables when ``db`` is "" (as in Timestream,
        where ListTables' DatabaseName is optional)."""
        if db:
            await self._database_doc(db)
        docs = {f"{d['database']}/{d['name']}": d for d in
                (json.loads(v) for _, v in await self._store.get_prefix(keys.tables_of(db) if db else keys.TABLES))}
        page, token = _page(list(docs), max_results, next_token)
        return [await self.table_proto(docs[n]) for n in page], token

    # -- tags --------------------------------------------------------------------------------------
    async def _tagged_doc(self, arn: str) -> tuple[str, dict[str, Any]]:
        db, table = arns.resource_path(arn)
        if table:
            return keys.table(db, table), await self.table_doc(db, table)
        return keys.database(db), await self._database_doc(db)

    async def list_tags(self, arn: str) -> list[catalog_pb2.Tag]:
        _, doc = await self._tagged_doc(arn)
        return [catalog_pb2.Tag(key=k, value=v) for k, v in sorted(doc.get("tags", {}).items())]

    async def change_tags(self, arn: str, add: Sequence[catalog_pb2.Tag] = (), remove: Sequence[str] = ()
                          ) -> list[catalog_pb2.Tag]:
        """Add (or replace) and remove tags of a database or table in one compare-and-swap, tried again when
        another change of the same document won the race (tag calls have no Conflict in Timestream's API);
        the tags after."""
        for _ in range(TAG_ATTEMPTS):
            key, doc = await self._tagged_doc(arn)
            raw = dumps(doc)
            tags = _tags(add, doc.get("tags"))
            for k in remove:
                tags.pop(k, None)
            doc["tags"] = tags
            if await self._store.replace(key, raw, dumps(doc)):
                return [catalog_pb2.Tag(key=k, value=v) for k, v in sorted(tags.items())]
        raise errors.Unavailable(f"The tags of {arn} kept changing during {TAG_ATTEMPTS} attempts; retry")

    # -- account settings --------------------------------------------------------------------------
    async def account_settings(self) -> dict[str, Any]:
        """The account settings ever set (the gateway adds the defaults)."""
        raw = await self._store.get(keys.ACCOUNT_SETTINGS)
        return {} if raw is None else dict(json.loads(raw))

    async def update_account_settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Replace the given members in one compare-and-swap (tried again when another update won the race);
        the settings after."""
        for _ in range(TAG_ATTEMPTS):
            raw = await self._store.get(keys.ACCOUNT_SETTINGS)
            settings = {**({} if raw is None else json.loads(raw)), **changes}
            done = (await self._store.create({keys.ACCOUNT_SETTINGS: dumps(settings)}) if raw is None
                    else await self._store.replace(keys.ACCOUNT_SETTINGS, raw, dumps(settings)))
            if done:
                return settings
        raise errors.Unavailable(f"The account settings kept changing during {TAG_ATTEMPTS} attempts; retry")

    # -- gateway documents -------------------------------------------------------------------------
    @staticmethod
    def _document_kind(kind: str) -> str:
        if kind not in keys.GATEWAY_DOCUMENT_KINDS:
            raise errors.ValidationError(f"unknown gateway document kind {kind!r}: one of "
                                         f"{', '.join(sorted(keys.GATEWAY_DOCUMENT_KINDS))}")
        return kind

    async def gateway_document(self, kind: str, doc_id: str) -> str:
        """The document's JSON, "" when there is none."""
        raw = await self._store.get(keys.gateway_document(self._document_kind(kind), doc_id))
        return "" if raw is None else raw.decode()

    async def put_gateway_document(self, kind: str, doc_id: str, text: str, expected: str) -> tuple[bool, str]:
        """Write the document if it is still ``expected`` ("" = absent); (written, the JSON now held)."""
        key = keys.gateway_document(self._document_kind(kind), doc_id)
        if not doc_id or not text:
            raise errors.ValidationError("a gateway document needs an id and a JSON body")
        json.loads(text)  # a document is JSON: ValueError (a ValidationError below) otherwise
        done = (await self._store.create({key: text.encode()}) if not expected
                else await self._store.replace(key, expected.encode(), text.encode()))
        if done:
            return True, text
        raw = await self._store.get(key)
        return False, "" if raw is None else raw.decode()

    async def gateway_documents(self, kind: str) -> list[tuple[str, str]]:
        """(id, JSON) of every document of the kind, by id."""
        prefix = keys.gateway_documents(self._document_kind(kind))
        return [(unquote(k[len(prefix):]), v.decode()) for k, v in await self._store.get_prefix(prefix)]

    # -- schema and routing ------------------------------------------------------------------------
    async def register_columns(self, table_id: str, columns: list[common_pb2.Column]) -> list[common_pb2.Column]:
        """Add columns first-writer-wins, one per schema key (``layout.schema_key``); an existing column keeps
        its kind and type. Returns the schema."""
        await routing_map.load(self._store, table_id)  # NotFound for a deleted table
        for c in columns:
            doc = {"name": c.name, "kind": c.kind, "type": c.type}
            await self._store.create({keys.column(table_id, layout.column_key(c)): dumps(doc)})
        return await self.columns(table_id)

    async def migrate_column_keys(self) -> int:
        """Re-key schema entries written before single-measure names had a namespace of their own (a
        single-measure name under its bare name, where a multi-measure attribute of that name now goes):
        each moves to its ``layout.schema_key``. Idempotent (a move cut short is finished next time); an
        entry whose new key already holds another kind or type is left where it is, and logged. Returns
        how many moved."""
        moved = 0
        for key, raw in await self._store.get_prefix(keys.COLUMNS):
            doc = json.loads(raw)
            table_id = key[len(keys.COLUMNS):].split("/", 1)[0]
            wanted = keys.column(table_id, layout.schema_key(doc["kind"], doc["name"]))
            if key == wanted:
                continue
            await self._store.create({wanted: raw})  # no-op when a move cut short already made it
            now = await self._store.get(wanted)
            if now is None or json.loads(now) != doc:
                log.error("a schema entry cannot move to its key: the key holds another column", old_key=key,
                          key=wanted, old=doc, new=json.loads(now) if now else None)
                continue
            await self._store.delete([key])
            moved += 1
        if moved:
            log.info("schema entries moved to their keys (single-measure names in a namespace of their own)",
                     moved=moved)
        return moved

    async def table_counts(self) -> dict[str, int]:
        """How many tables each cell owns ranges of."""
        return await routing_map.table_counts(self._store)

    async def resolve(self, db: str, name: str) -> common_pb2.TableRoute:
        """Everything a client or node needs to write to or read a table."""
        doc = await self.table_doc(db, name)
        route, _ = await routing_map.load(self._store, doc["table_id"])
        return await self._route_proto(doc, route)

    async def split(self, db: str, name: str, cells: list[str]) -> common_pb2.TableRoute:
        """Spread a table over several cells; earlier owners stay readers of their ranges."""
        doc = await self.table_doc(db, name)
        known = set(cell_names(await self._registry.cells()))
        unknown = [c for c in cells if c not in known]
        if unknown:
            raise errors.ValidationError(f"cells {unknown} are not ready cells (known: {sorted(known)})")
        route = await routing_map.store_split(self._store, doc["table_id"], cells)
        return await self._route_proto(doc, route)

    async def _route_proto(self, doc: dict[str, Any], route: dict[str, Any]) -> common_pb2.TableRoute:
        named = {r["cell"] for r in route["ranges"]} | {c for r in route["ranges"] for c in r["readers"]}
        return common_pb2.TableRoute(
            database_name=doc["database"], table_name=doc["name"], table_id=doc["table_id"],
            epoch=route["epoch"], ranges=routing_map.to_proto(route),
            cells=[c for c in await self._registry.cells() if c.cell in named],
            columns=await self.columns(doc["table_id"]), memory_retention_hours=doc["memory_hours"],
            magnetic_retention_days=doc["magnetic_days"], magnetic_writes=doc["magnetic"]["enabled"],
            partition_key=key.to_proto() if (key := table_schema.stored(doc)) is not None else None)


class TableStates:
    """Every table as one watcher of the catalog saw it: built from a scan, advanced change by change.

    Each WatchTables stream keeps its own, so a change can be sent as the table's whole new state (its
    document plus all its columns) without reading etcd again.
    """

    def __init__(self, snapshot: Snapshot) -> None:
        self._docs: dict[str, dict[str, Any]] = {}  # table key → document
        self._key_of: dict[str, str] = {}  # table id → table key
        self._columns: dict[str, dict[str, common_pb2.Column]] = {}  # table id → column key → column
        self._revision: dict[str, int] = {}  # table id → revision of its latest change
        for entry in snapshot.entries:
            self.apply(Change(entry.key, entry.value, None, entry.mod_revision))

    def snapshot(self) -> list[catalog_pb2.TableEvent]:
        """One SNAPSHOT_TABLE event per table, by key."""
        return [self._event(Kind.SNAPSHOT_TABLE, self._docs[key]["table_id"]) for key in sorted(self._docs)]

    def apply(self, change: Change) -> list[catalog_pb2.TableEvent]:
        """The events one etcd change makes (none for databases, or columns of a table not known here)."""
        if change.key.startswith(keys.TABLES):
            return self._table_changed(change)
        if change.key.startswith(keys.COLUMNS):
            return self._column_changed(change)
        return []

    def _table_changed(self, change: Change) -> list[catalog_pb2.TableEvent]:
        if change.value is None:
            doc = self._docs.pop(change.key, None)
            if doc is None and change.previous is not None:
                doc = json.loads(change.previous)
            if doc is None:
                return []
            table_id = doc["table_id"]
            self._key_of.pop(table_id, None)
            self._columns.pop(table_id, None)
            self._revision.pop(table_id, None)
            return [catalog_pb2.TableEvent(kind=Kind.DELETED, table_id=table_id, revision=change.revision)]
        doc = json.loads(change.value)
        table_id = doc["table_id"]
        events = []
        old = self._docs.get(change.key)
        if old is not None and old["table_id"] != table_id:  # cannot happen without a delete; never drop one
            events = self._table_changed(Change(change.key, None, None, change.revision))
        kind = Kind.UPDATED if table_id in self._key_of else Kind.CREATED
        self._docs[change.key] = doc
        self._key_of[table_id] = change.key
        self._revision[table_id] = max(self._revision.get(table_id, 0), change.revision)
        return [*events, self._event(kind, table_id)]

    def _column_changed(self, change: Change) -> list[catalog_pb2.TableEvent]:
        table_id = change.key[len(keys.COLUMNS):].split("/", 1)[0]
        if change.value is not None:
            self._columns.setdefault(table_id, {})[change.key] = _column(change.value)
        elif table_id in self._columns:
            self._columns[table_id].pop(change.key, None)
        else:
            return []  # a column of a table already deleted here
        self._revision[table_id] = max(self._revision.get(table_id, 0), change.revision)
        if table_id not in self._key_of:  # a scan reads columns before their table's document
            return []
        return [self._event(Kind.UPDATED, table_id)]

    def _event(self, kind: catalog_pb2.TableEvent.Kind, table_id: str) -> catalog_pb2.TableEvent:
        columns = self._columns.get(table_id, {})
        table = table_message(self._docs[self._key_of[table_id]], [columns[k] for k in sorted(columns)])
        return catalog_pb2.TableEvent(kind=kind, table_id=table_id, table=table,
                                      revision=self._revision[table_id])
