"""SQL templates for the translator's rewrites: an expression written as SQL text with ``__name``
placeholders, parsed once per use and filled with (parenthesised copies of) the given expressions.

``duckdb`` templates are written in DuckDB's SQL (the final form: their functions are DuckDB's); ``trino``
templates in Trino's, for rewrites whose body is easiest said in the user's dialect (sqlglot translates it
like the rest of the query)."""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp


def _fill(tree: exp.Expr, args: dict[str, exp.Expr]) -> exp.Expr:
    def fill(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and node.name.startswith("__") and node.name[2:] in args:
            return exp.paren(args[node.name[2:]].copy())
        return node

    return tree.transform(fill)


def call(name: str, *args: exp.Expr) -> exp.Anonymous:
    """``name(args…)`` as a plain function call (DuckDB's name, not sqlglot's)."""
    return exp.Anonymous(this=name, expressions=list(args))


def duckdb(sql: str, prefix: str | None = None, **args: exp.Expr) -> exp.Expr:
    """A DuckDB expression with ``__name`` placeholders replaced by copies of ``args[name]``; its own lambda
    variables (``tessera_…``) take ``prefix`` (default: ``local_prefix`` of the arguments)."""
    if "tessera_" in sql:
        sql = sql.replace("tessera_", prefix or local_prefix(*args.values()))
    return _fill(sqlglot.parse_one(sql, read="duckdb"), args)


def trino(sql: str, **args: exp.Expr) -> exp.Expr:
    """A Trino expression with ``__name`` placeholders replaced by copies of ``args[name]``."""
    return _fill(sqlglot.parse_one(sql, read="trino"), args)


_LOCAL = re.compile(r"^tessera(\d*)_")


def local_prefix(*exprs: exp.Expr) -> str:
    """The prefix of a rewrite's own lambda variables (``tessera_``, ``tessera1_``, …) that no variable inside
    ``exprs`` uses: a rewrite nested in another's argument (``zip_with`` in a ``zip_with`` lambda) then never
    captures the outer one's variables. Templates are written with ``tessera_`` and renamed with it."""
    level = -1
    for expr in exprs:
        for node in expr.find_all(exp.Identifier):
            found = _LOCAL.match(node.name)
            if found:
                level = max(level, int(found.group(1) or 0))
    return "tessera_" if level < 0 else f"tessera{level + 1}_"
