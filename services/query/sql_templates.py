"""SQL templates for the translator's rewrites: an expression written as SQL text with ``__name``
placeholders, parsed once per use and filled with (parenthesised copies of) the given expressions.

``duckdb`` templates are written in DuckDB's SQL (the final form: their functions are DuckDB's); ``trino``
templates in Trino's, for rewrites whose body is easiest said in the user's dialect (sqlglot translates it
like the rest of the query)."""

from __future__ import annotations

import sqlglot
from sqlglot import exp


def _fill(tree: exp.Expr, args: dict[str, exp.Expr]) -> exp.Expr:
    def fill(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and node.name.startswith("__") and node.name[2:] in args:
            return exp.paren(args[node.name[2:]].copy())
        return node

    return tree.transform(fill)


def duckdb(sql: str, **args: exp.Expr) -> exp.Expr:
    """A DuckDB expression with ``__name`` placeholders replaced by copies of ``args[name]``."""
    return _fill(sqlglot.parse_one(sql, read="duckdb"), args)


def trino(sql: str, **args: exp.Expr) -> exp.Expr:
    """A Trino expression with ``__name`` placeholders replaced by copies of ``args[name]``."""
    return _fill(sqlglot.parse_one(sql, read="trino"), args)
