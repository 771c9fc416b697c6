"""The etcd key layout. Every key discovery reads or writes is built here.

    /tessera/catalog/databases/{db}                 Database (JSON)
    /tessera/catalog/tables/{db}/{table}            Table (JSON, with its table_id)
    /tessera/catalog/columns/{table_id}/{key}       {"name", "kind", "type"}: the table's flexible schema, by
                                                    layout.schema_key (single-measure names apart; entries an
                                                    older version keyed by bare name move at start)
    /tessera/routing/{table_id}                     {"epoch", "ranges": [{"lo","hi","cell","readers"}]}
    /tessera/cells/{cell}/members/{node_id}         NodeInfo (JSON), persistent: tile placement uses it
    /tessera/cells/{cell}/live/{node_id}            NodeInfo (JSON), under the node's lease: liveness
    /tessera/removed/{cell}/{node_id}               {"removed_at_ns", "node"}: a removed member, which may not rejoin
    /tessera/account/settings                       Timestream's account settings (JSON, members ever set)
    /tessera/gateway/{kind}/{id}                    a gateway document (JSON), e.g. a batch-load task

Names are percent-encoded so a '/' can never split a key (Timestream names cannot hold one anyway).
"""

from __future__ import annotations

from urllib.parse import quote

ROOT = "/tessera"
DATABASES = f"{ROOT}/catalog/databases/"
TABLES = f"{ROOT}/catalog/tables/"
COLUMNS = f"{ROOT}/catalog/columns/"
ROUTING = f"{ROOT}/routing/"
CELLS = f"{ROOT}/cells/"
REMOVED = f"{ROOT}/removed/"
ACCOUNT_SETTINGS = f"{ROOT}/account/settings"
GATEWAY_DOCUMENT_KINDS = frozenset({"batch-load-task"})


def gateway_documents(kind: str) -> str:
    return f"{ROOT}/gateway/{_q(kind)}/"


def gateway_document(kind: str, doc_id: str) -> str:
    return gateway_documents(kind) + _q(doc_id)


def _q(name: str) -> str:
    return quote(name, safe="")


def database(db: str) -> str:
    return DATABASES + _q(db)


def tables_of(db: str) -> str:
    return TABLES + _q(db) + "/"


def table(db: str, name: str) -> str:
    return tables_of(db) + _q(name)


def columns_of(table_id: str) -> str:
    return COLUMNS + table_id + "/"


def column(table_id: str, name: str) -> str:
    return columns_of(table_id) + _q(name)


def routing(table_id: str) -> str:
    return ROUTING + table_id


def member(cell: str, node_id: str) -> str:
    return f"{CELLS}{_q(cell)}/members/{_q(node_id)}"


def live(cell: str, node_id: str) -> str:
    return f"{CELLS}{_q(cell)}/live/{_q(node_id)}"


def removed(cell: str, node_id: str) -> str:
    return f"{REMOVED}{_q(cell)}/{_q(node_id)}"
