"""Boolean conditions of the sqlglot AST."""

from __future__ import annotations

from sqlglot import exp


def conjuncts(condition: exp.Expr) -> list[exp.Expr]:
    """The top-level AND terms of a condition, parentheses removed (``a AND (b AND c)`` gives a, b, c)."""
    condition = condition.unnest()
    if isinstance(condition, exp.And):
        return conjuncts(condition.this) + conjuncts(condition.expression)
    return [condition]
