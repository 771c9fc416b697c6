"""Timestream-style ARNs taken apart in one place."""

from __future__ import annotations

import pytest

from tessera import arns, errors


def test_resource_and_path_of_database_and_table_arns() -> None:
    table = "arn:aws:timestream:eu-west-1:123456789012:database/db-1/table/cpu.v2"
    assert arns.resource(table) == "database/db-1/table/cpu.v2"
    assert arns.resource_path(table) == ("db-1", "cpu.v2")
    assert arns.resource_path("arn:aws:timestream:us-east-1:1:database/db") == ("db", "")
    assert arns.resource("database/db") == "database/db"  # not an ARN: as it is


@pytest.mark.parametrize("bad", ["database/db", "arn:aws:timestream:r:1:database/", "arn:aws:timestream:r:1:table/t",
                                 "arn:aws:timestream:r:1:database/db/table/", "arn:aws:s3:::bucket"])
def test_anything_else_is_not_found_naming_the_arn(bad: str) -> None:
    with pytest.raises(errors.NotFound, match="does not exist"):
        arns.resource_path(bad)
