"""Timestream-style ARNs (``arn:aws:timestream:REGION:ACCOUNT:database/NAME[/table/NAME]``): the one place
that takes them apart (the catalog stores them; the HTTP gateway rewrites their region and account)."""

from __future__ import annotations

from tessera import errors


def resource(arn: str) -> str:
    """``database/x`` or ``database/x/table/y``: the part after the account; the text itself if it is not
    an ARN."""
    return arn.split(":", 5)[5] if arn.startswith("arn:") and arn.count(":") >= 5 else arn


def resource_path(arn: str) -> tuple[str, str]:
    """(database, table) of a resource ARN (table "" for a database); NotFound when it names neither."""
    parts = resource(arn).split("/") if arn.startswith("arn:") else []
    if len(parts) == 2 and parts[0] == "database" and parts[1]:
        return parts[1], ""
    if len(parts) == 4 and parts[0] == "database" and parts[2] == "table" and parts[1] and parts[3]:
        return parts[1], parts[3]
    raise errors.NotFound(f"The resource {arn} does not exist: expected an ARN ending in database/NAME or "
                          "database/NAME/table/NAME")
