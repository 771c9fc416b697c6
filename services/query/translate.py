"""Timestream SQL -> DuckDB SQL for the coordinator's final stage, plus per-table scan specs for replicas.

The query path, in a fixed order, all on the sqlglot AST:

1. parse with the :class:`~services.query.dialect.Timestream` dialect and accept only one read-only query;
2. fold the clock (``now()``, ``current_timestamp``, ``current_date``, ``ago(d)`` and ``<ts> ± <interval>``)
   into exact nanosecond literals, and rewrite Timestream/Trino functions whose DuckDB spelling or meaning
   differs (``bin``, ``from_milliseconds`` …, see ``rewrites.py``);
3. find every ``database.table`` occurrence and derive its :class:`TableScan` (columns, time bounds, and a
   predicate that is safe to evaluate on the table's raw rows);
4. replace each occurrence by a view ``t0``, ``t1`` … (aliased so qualified column references still resolve)
   and generate DuckDB SQL.

The final stage must run the SQL on a database of :class:`tessera.sqlsession.Sessions` set up with
:data:`FINAL_STAGE_MACROS`, and each
view ``tN`` must hold the rows of its table filtered by the scan's bounds and predicate, with ``time`` as
TIMESTAMP_NS (UTC, tz-naive), dimensions and ``measure_name`` VARCHAR, and typed ``measure_value::<type>``
and multi-measure columns.
"""

from __future__ import annotations

import datetime
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.optimizer.scope import Scope, ScopeType, build_scope

from services.query import latest_rows, trino_numbers, trino_text, trino_timeseries
from services.query.conditions import conjuncts
from services.query.dialect import Timestream
from services.query.latest_rows import LatestRows
from services.query.literals import EPOCH, TIMESTAMP_NS, interval_ns, literal_ns, ns_literal
from services.query.rewrites import is_call, rewrite_function
from tessera import sqlsession
from tessera.errors import ValidationError
from tessera.limits import QUERY_STRING_MAX_CHARS

FINAL_STAGE_MACROS: tuple[str, ...] = trino_timeseries.MACROS + trino_text.MACROS
"""The macros the translated SQL may call: the final stage's database must define them (they are never
pushed to replicas)."""

_NONDETERMINISTIC_TYPES = (exp.Rand, exp.Randn, exp.Uuid)
_NONDETERMINISTIC_NAMES = frozenset({"random", "rand", "uuid", "gen_random_uuid", "shuffle", "nextval"})
_NOT_A_QUERY = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Command, exp.Alter)
# In a scope that may be correlated, an unqualified name could bind to an outer table, except the columns
# every Timestream table has.
_ALWAYS_PRESENT = frozenset({"time", "measure_name"})


@dataclass(frozen=True)
class TableScan:
    """What one table occurrence needs from storage; the rows it returns become view ``view``."""

    view: str
    """Name that replaces this table reference in ``Translation.sql``, e.g. ``"t0"``."""
    database: str
    table: str
    columns: tuple[str, ...] | None
    """Raw column names the query may read (an over-approximation); None = all (``*`` or ``t.*``).
    Never empty: a query that reads no column (``count(*)``) asks for ``time`` so rows keep their count."""
    start_ns: int | None
    """Inclusive lower bound on ``time`` implied by WHERE; None = unbounded."""
    end_ns: int | None
    """Exclusive upper bound on ``time`` (``time <= X`` gives X+1); None = unbounded."""
    predicate: str
    """DuckDB SQL of WHERE conjuncts safe to evaluate on this table's raw rows alone ('' = none)."""
    predicate_columns: tuple[str, ...]
    """The columns ``predicate`` references, unqualified."""
    latest: LatestRows | None = None
    """When the query ranks the rows by time and keeps the first few of each group: how many newest rows
    of each series suffice (``latest_rows``)."""


@dataclass(frozen=True)
class Translation:
    """A translated query: DuckDB SQL over views ``t0``… and the scans that fill them."""

    sql: str
    scans: tuple[TableScan, ...]


@dataclass
class _Occurrence:
    """One ``database.table`` reference in the query and the scope it is a source of."""

    node: exp.Table
    database: str
    table: str
    alias: str
    scope: Scope | None


PLAN_CACHE_SIZE = 1024
_plans: OrderedDict[tuple[str, frozenset[str]], Translation] = OrderedDict()
_plans_lock = threading.Lock()
_CLOCK_NODES = (exp.CurrentTimestamp, exp.CurrentDate, exp.CurrentTime, exp.Localtimestamp, exp.Localtime,
                exp.CurrentDatetime)
_PLAN_CACHE_MAX_CHARS = 16_384  # longer queries are translated every time (the cache stays small)


def translate(query: str, now_ns: int, floating_columns: frozenset[str] = frozenset()) -> Translation:
    """Translate one Timestream SELECT into DuckDB SQL and per-table scans, with the clock fixed at now_ns.

    ``floating_columns`` names columns the caller knows are DOUBLE in every table the query reads (from the
    routes' schemas), so rules that depend on a DOUBLE operand (division by zero) apply to them too.

    A query that does not read the clock (no now(), ago(), current_*) translates the same every time, so
    its translation is kept (the last PLAN_CACHE_SIZE, by exact text and known DOUBLE columns): a
    dashboard's or a benchmark's repeated query skips sqlglot (~2 ms)."""
    key = (query, floating_columns)
    with _plans_lock:
        cached = _plans.get(key)
        if cached is not None:
            _plans.move_to_end(key)
            return cached
    root = _parse(query)
    timeless = len(query) <= _PLAN_CACHE_MAX_CHARS and not any(True for _ in root.find_all(*_CLOCK_NODES)) and not any(
        is_call(n, "ago", 1) for n in root.find_all(exp.Anonymous))
    token = trino_numbers.FLOATING_COLUMNS.set(floating_columns)
    try:
        translation, consulted = _translate(root, now_ns)
    finally:
        trino_numbers.FLOATING_COLUMNS.reset(token)
    if timeless and not consulted:
        with _plans_lock:
            _plans[key] = translation
            while len(_plans) > PLAN_CACHE_SIZE:
                _plans.popitem(last=False)
    return translation


def _translate(root: exp.Expr, now_ns: int) -> tuple[Translation, bool]:
    """The translation, and whether DuckDB evaluated a time bound for it (see _ConstantEvaluator)."""
    _name_output_columns(root)
    root = _fold_and_rewrite(root, now_ns)
    try:
        occurrences = _occurrences(root)
    except SqlglotError as exc:
        raise ValidationError(f"cannot analyse query: {exc}") from exc
    views = _view_names(root, len(occurrences))
    evaluator = _ConstantEvaluator()
    try:
        scans = tuple(_scan(occ, view, evaluator) for occ, view in zip(occurrences, views, strict=True))
    finally:
        evaluator.close()
    for occ, view in zip(occurrences, views, strict=True):
        _replace_with_view(root, occ, view)
    try:
        sql = root.sql(dialect="duckdb")
    except (TypeError, ValueError, AttributeError, SqlglotError) as exc:  # a construct the generator cannot write
        raise ValidationError(f"cannot translate the query: one of its constructs is not supported "
                              f"({type(exc).__name__}: {exc})") from exc
    return Translation(sql=sql, scans=scans), evaluator.consulted


# --- 1. parsing -------------------------------------------------------------------------------------------


def _parse(query: str) -> exp.Expr:
    if not query.strip():
        raise ValidationError("QueryString is empty")
    if len(query) > QUERY_STRING_MAX_CHARS:
        raise ValidationError(
            f"QueryString is {len(query)} characters; the limit is {QUERY_STRING_MAX_CHARS} "
            "(tessera.limits.QUERY_STRING_MAX_CHARS)"
        )
    try:
        statements = [s for s in sqlglot.parse(query, read=Timestream) if s is not None]
    except ParseError as exc:
        raise ValidationError(_syntax_message(exc)) from exc
    except TokenError as exc:
        raise ValidationError(f"syntax error: {exc}") from exc
    if not statements:
        raise ValidationError("QueryString holds no statement")
    if len(statements) > 1:
        raise ValidationError(f"QueryString holds {len(statements)} statements; send exactly one")
    root = statements[0]
    if isinstance(root, exp.Values):
        root = _values_query(root)
    body = root.unnest() if isinstance(root, exp.Subquery) else root
    if not isinstance(body, (exp.Select, exp.SetOperation)) or root.find(*_NOT_A_QUERY):
        raise ValidationError(f"only SELECT queries are supported, got {root.key.upper()}")
    for kind, name in _UNSUPPORTED.items():
        if root.find(kind) is not None:
            raise ValidationError(f"{name} is not supported: Timestream's SQL does not have it")
    for node in root.find_all(exp.AtTimeZone):
        zone = node.args.get("zone")
        if not (isinstance(zone, exp.Literal) and zone.is_string and zone.name.upper() in _UTC_NAMES):
            raise ValidationError(f"AT TIME ZONE {zone.sql() if zone is not None else ''} is not supported: every "
                                  "time in Timestream is UTC, and only 'UTC' may be named")
    return root


_UNSUPPORTED: dict[type[exp.Expr], str] = {
    exp.MatchRecognize: "MATCH_RECOGNIZE (row pattern matching)",
}
"""Constructs the parser reads but Timestream's SQL does not have: refused by name."""
_UTC_NAMES = frozenset({"UTC", "Z", "GMT", "ETC/UTC", "+00:00", "UCT", "ZULU"})


def _values_query(values: exp.Values) -> exp.Select:
    """A statement that is a ``VALUES`` list (a query in Trino) as ``SELECT * FROM (VALUES …)``, its ORDER BY,
    LIMIT and OFFSET kept on the SELECT."""
    tail = {key: values.args.pop(key) for key in ("order", "limit", "offset") if values.args.get(key)}
    select = exp.Select(expressions=[exp.Star()], from_=exp.From(this=values))
    for key, node in tail.items():
        select.set(key, node)
    return select


def _name_values_columns(root: exp.Expr) -> None:
    """Trino names the columns of a ``VALUES`` list that the query does not name ``_col0``, ``_col1``…
    (DuckDB: ``col0``…); they reach the result through ``SELECT *``."""
    for values in list(root.find_all(exp.Values)):
        alias = values.args.get("alias")
        if alias is not None and alias.columns or not values.expressions or not isinstance(values.parent,
                                                                                        (exp.From, exp.Join)):
            continue  # named by the query, or not a table (``x = ANY (VALUES …)``)
        first = values.expressions[0]
        if isinstance(first, exp.Tuple) and len(first.expressions) == 1 and isinstance(first.expressions[0].unnest(),
                                                                                    exp.Tuple):
            first = first.expressions[0].unnest()  # a row that is one ROW spreads into its fields
        width = len(first.expressions) if isinstance(first, exp.Tuple) else 1
        columns = [exp.to_identifier(f"_col{i}", quoted=True) for i in range(width)]
        values.set("alias", exp.TableAlias(this=alias.this if alias is not None else exp.to_identifier("_values"),
                                           columns=columns))


def _name_output_columns(root: exp.Expr) -> None:
    """Trino's (and so Timestream's) column names: an output expression of any SELECT that has no alias and is
    not a plain column is named ``_col<position>`` (0-based), where DuckDB would name it after its text; a
    subquery's or CTE's names reach the result through ``SELECT *``, so every SELECT is named this way."""
    _name_values_columns(root)
    for select in list(root.find_all(exp.Select)):
        for position, projection in enumerate(select.expressions):
            if not isinstance(projection, (exp.Alias, exp.Column, exp.Star)):
                projection.replace(exp.alias_(projection.copy(), f"_col{position}", quoted=True))


def _syntax_message(exc: ParseError) -> str:
    if not exc.errors:
        return f"syntax error: {exc}"
    first = exc.errors[0]
    # sqlglot describes tokens and node classes by their repr; keep just the text and the class name.
    description = re.sub(r"<Token token_type: [^,]+, text: (.*?), line: .*?>", r"'\1'", first["description"])
    description = re.sub(r"<class 'sqlglot\.[\w.]*\.(\w+)'>", r"\1", description)
    return f"syntax error at line {first['line']}, col {first['col']}: {description}"


# --- 2. clock folding and function rewrites ---------------------------------------------------------------




def _fold_and_rewrite(root: exp.Expr, now_ns: int) -> exp.Expr:
    # Reversed pre-order visits every node after its descendants, so folds compose (now() - 1h - 5m).
    for node in reversed(list(root.walk(bfs=False))):
        new = _fold_clock(node, now_ns)
        if new is None:
            new = rewrite_function(node)
        if new is not None:
            if node is root:
                root = new
            else:
                node.replace(new)
    return root


def _fold_clock(node: exp.Expr, now_ns: int) -> exp.Expr | None:
    if isinstance(node, (exp.CurrentTimestamp, exp.Localtimestamp)):  # UTC: local is current
        return ns_literal(now_ns)
    if isinstance(node, exp.CurrentDate):
        day = (EPOCH + datetime.timedelta(microseconds=now_ns // 1_000)).date()
        return exp.cast(exp.Literal.string(day.isoformat()), exp.DType.DATE)
    if isinstance(node, (exp.CurrentTime, exp.Localtime)):
        moment = EPOCH + datetime.timedelta(microseconds=now_ns // 1_000)
        return exp.cast(exp.Literal.string(moment.time().isoformat()), exp.DType.TIME)
    if is_call(node, "ago", 1):
        length = interval_ns(node.expressions[0])
        if length is not None:
            return ns_literal(now_ns - length)
        return exp.paren(exp.Sub(this=ns_literal(now_ns), expression=node.expressions[0]))
    if isinstance(node, exp.Paren) and literal_ns(node.unnest()) is not None:
        return node.unnest()
    if isinstance(node, (exp.Add, exp.Sub)):
        return _fold_timestamp_arithmetic(node)
    return None


def _fold_timestamp_arithmetic(node: exp.Add | exp.Sub) -> exp.Expr | None:
    # DuckDB's TIMESTAMP_NS ± INTERVAL yields a microsecond TIMESTAMP; fold in Python to stay exact.
    left, right = node.this, node.expression
    ts, length = literal_ns(left), interval_ns(right)
    if ts is None and isinstance(node, exp.Add):
        ts, length = literal_ns(right), interval_ns(left)
    if ts is None or length is None:
        return None
    return ns_literal(ts - length if isinstance(node, exp.Sub) else ts + length)




# --- 3. table occurrences and scans -----------------------------------------------------------------------


def _occurrences(root: exp.Expr) -> list[_Occurrence]:
    """Every ``database.table`` reference, in textual order, with the scope it is a source of."""
    cte_names = {cte.alias_or_name.lower() for cte in root.find_all(exp.CTE)}
    scope_of: dict[int, Scope] = {}
    top = build_scope(root)
    for scope in top.traverse() if top is not None else ():
        for source in scope.sources.values():
            if isinstance(source, exp.Table):
                scope_of[id(source)] = scope
    found = []
    for node in root.find_all(exp.Table, bfs=False):
        if not node.args.get("db") and node.name.lower() in cte_names:
            continue
        if node.args.get("catalog") or not node.args.get("db") or not isinstance(node.this, exp.Identifier):
            raise ValidationError(
                f"table reference {node.sql(dialect=Timestream)} must be database.table, "
                'e.g. "my-database"."my-table"'
            )
        found.append(_Occurrence(node, node.db, node.name, node.alias_or_name, scope_of.get(id(node))))
    return found


def _view_names(root: exp.Expr, count: int) -> list[str]:
    taken = {cte.alias_or_name.lower() for cte in root.find_all(exp.CTE)}
    names: list[str] = []
    i = 0
    while len(names) < count:
        if f"t{i}" not in taken:
            names.append(f"t{i}")
        i += 1
    return names


def _refers_to(column: exp.Column, occ: _Occurrence) -> bool:
    qualifier = column.table
    if not qualifier:
        return True
    return qualifier.lower() == occ.alias.lower() and (
        not column.db or column.db.lower() == occ.database.lower()
    )


def _is_time(node: exp.Expr, occ: _Occurrence) -> bool:
    node = node.unnest()
    return isinstance(node, exp.Column) and node.name.lower() == "time" and _refers_to(node, occ)


def _scan(occ: _Occurrence, view: str, evaluator: _ConstantEvaluator) -> TableScan:
    start, end, pushed = _pushdown(occ, evaluator)
    stripped = [_unqualified(c.copy()) for c in pushed]
    select = occ.scope.expression if occ.scope is not None else None
    where = select.args.get("where") if isinstance(select, exp.Select) else None
    all_pushed = where is None or len(pushed) == len(conjuncts(where.this))
    return TableScan(
        view=view,
        database=occ.database,
        table=occ.table,
        columns=_columns(occ),
        start_ns=start,
        end_ns=end,
        predicate=exp.and_(*stripped).sql(dialect="duckdb") if stripped else "",
        predicate_columns=tuple(sorted({col.name for c in stripped for col in _table_columns(c)})),
        latest=latest_rows.detect(select, occ.node, all_pushed) if select is not None else None,
    )


def _table_columns(node: exp.Expr) -> list[exp.Column]:
    """The columns ``node`` reads from its tables: not the variables of a lambda inside it (``x`` and ``x.f``
    in ``x -> x.f > 1``, or a rewrite's own ``tessera_i``)."""
    out = []
    for col in node.find_all(exp.Column):
        names = {col.table or col.name}
        lam = col.find_ancestor(exp.Lambda)
        bound = False
        while lam is not None and not bound:
            bound = any(p.name in names for p in lam.expressions)
            lam = lam.find_ancestor(exp.Lambda)
        if not bound:
            out.append(col)
    return out


def _columns(occ: _Occurrence) -> tuple[str, ...] | None:
    if occ.scope is None or not isinstance(occ.scope.expression, exp.Select):
        return None
    select = occ.scope.expression
    for projection in select.expressions:
        if isinstance(projection, exp.Star):
            return None
        star = isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
        if star and _refers_to(projection, occ):
            return None
    order = select.args.get("order")
    output_names = set(select.named_selects)
    names = {
        col.name
        for col in select.find_all(exp.Column)
        if not isinstance(col.this, exp.Star)
        and _refers_to(col, occ)
        # ORDER BY resolves output names first: `ORDER BY avg_cpu` reads no raw column.
        and not (
            order is not None
            and not col.table
            and col.name in output_names
            and col.find_ancestor(exp.Order) is order
        )
    }
    for join in select.args.get("joins") or ():
        names.update(ident.name for ident in join.args.get("using") or ())
    return tuple(sorted(names)) or ("time",)


def _pushdown(
    occ: _Occurrence, evaluator: _ConstantEvaluator
) -> tuple[int | None, int | None, list[exp.Expr]]:
    """Time bounds and the WHERE conjuncts safe to evaluate on this table's raw rows alone."""
    select = occ.scope.expression if occ.scope is not None else None
    if (
        occ.scope is None
        or not isinstance(select, exp.Select)
        or select.args.get("joins")
        or select.args.get("laterals")
        or getattr(select.args.get("from_"), "this", None) is not occ.node
        or select.args.get("where") is None
    ):
        return None, None, []
    strict = _maybe_correlated(occ.scope)
    pushed = [c for c in conjuncts(select.args["where"].this) if _pushable(c, occ, strict)]
    start: int | None = None
    end: int | None = None
    for conjunct in pushed:
        low, high = _time_bound(conjunct, occ, evaluator)
        if low is not None:
            start = low if start is None else max(start, low)
        if high is not None:
            end = high if end is None else min(end, high)
    return start, end, pushed


def _maybe_correlated(scope: Scope) -> bool:
    current: Scope | None = scope
    while current is not None:
        if current.scope_type in (ScopeType.SUBQUERY, ScopeType.UDTF):
            return True
        current = current.parent
    return False


def _deterministic_scalar(node: exp.Expr) -> bool:
    """No subquery, aggregate, window, placeholder or non-deterministic call anywhere under node."""
    for sub in node.walk():
        if isinstance(
            sub, (exp.Query, exp.Subquery, exp.AggFunc, exp.Window, exp.Placeholder, exp.Parameter)
        ):
            return False
        if isinstance(sub, _NONDETERMINISTIC_TYPES):
            return False
        if isinstance(sub, exp.Anonymous) and sub.name.lower() in _NONDETERMINISTIC_NAMES | trino_timeseries.FUNCTIONS | trino_text.FUNCTIONS:
            return False
    return True


def _pushable(conjunct: exp.Expr, occ: _Occurrence, strict: bool) -> bool:
    if not _deterministic_scalar(conjunct):
        return False
    for col in _table_columns(conjunct):
        if not _refers_to(col, occ) or isinstance(col.this, exp.Star):
            return False
        if strict and not col.table and col.name.lower() not in _ALWAYS_PRESENT:
            return False
    return True


def _unqualified(node: exp.Expr) -> exp.Expr:
    for col in node.find_all(exp.Column):
        for part in ("table", "db", "catalog"):
            col.set(part, None)
    return node


_FLIPPED: dict[type[exp.Expr], type[exp.Expr]] = {
    exp.GT: exp.LT,
    exp.GTE: exp.LTE,
    exp.LT: exp.GT,
    exp.LTE: exp.GTE,
    exp.EQ: exp.EQ,
}


def _time_bound(
    conjunct: exp.Expr, occ: _Occurrence, evaluator: _ConstantEvaluator
) -> tuple[int | None, int | None]:
    """The [start, end) on ``time`` that one conjunct implies, None where it implies nothing."""
    if (
        isinstance(conjunct, exp.Between)
        and _is_time(conjunct.this, occ)
        and not conjunct.args.get("symmetric")
    ):
        low = evaluator.timestamp_ns(conjunct.args["low"])
        high = evaluator.timestamp_ns(conjunct.args["high"])
        return low, None if high is None else high + 1
    op = type(conjunct)
    if op not in _FLIPPED or not isinstance(conjunct, exp.Binary):
        return None, None
    column, constant = conjunct.this, conjunct.expression
    if not _is_time(column, occ):
        column, constant, op = constant, column, _FLIPPED[op]
    if not _is_time(column, occ):
        return None, None
    value = evaluator.timestamp_ns(constant)
    if value is None:
        return None, None
    if op is exp.GTE:
        return value, None
    if op is exp.GT:
        return value + 1, None
    if op is exp.LT:
        return None, value
    if op is exp.LTE:
        return None, value + 1
    return value, value + 1


class _ConstantEvaluator:
    """Evaluates constant timestamp expressions to int nanoseconds, exactly as DuckDB compares them."""

    def __init__(self) -> None:
        self._conn: duckdb.DuckDBPyConnection | None = None
        self.consulted = False
        """Whether DuckDB evaluated an expression (it may read its own clock): such a plan is not cached."""

    def timestamp_ns(self, node: exp.Expr) -> int | None:
        """``epoch_ns(CAST(node AS TIMESTAMP_NS))``, or None if node is not a constant timestamp."""
        exact = literal_ns(node.unnest())
        if exact is not None:
            return exact
        if node.find(exp.Column) or not _deterministic_scalar(node):
            return None
        if self._conn is None:
            self._conn = sqlsession.shared().cursor()  # Timestream's session settings applied
        sql = exp.cast(node.copy(), TIMESTAMP_NS).sql(dialect="duckdb")
        self.consulted = True
        try:
            row = self._conn.execute(f"SELECT epoch_ns({sql})").fetchone()
        except duckdb.Error as exc:
            sqlsession.sql_error(exc, "a time bound")  # an internal error: the next cursor gets a fresh database
            return None
        return None if row is None or row[0] is None else int(row[0])

    def close(self) -> None:
        """Release the cursor, if one was opened."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# --- 4. views ---------------------------------------------------------------------------------------------


def _replace_with_view(root: exp.Expr, occ: _Occurrence, view: str) -> None:
    """Point the occurrence at its view; keep the user's alias, else alias it to the table's own name."""
    node = occ.node
    if node.args.get("alias") is None:
        node.set("alias", exp.TableAlias(this=node.this.copy()))
    node.set("this", exp.to_identifier(view))
    node.set("db", None)
    # "db"."tbl".col would not resolve against a view; "tbl".col does.
    for col in root.find_all(exp.Column):
        if col.db and col.db.lower() == occ.database.lower() and col.table.lower() == occ.table.lower():
            col.set("db", None)
            col.set("catalog", None)
