"""ORM classes mapped at run time onto the configured tables, without their secret columns.

The tables come from `build_schema` (so DB_NAMING, DB_TABLE_NAMES and DB_COLUMN_NAMES apply);
each gets a class mapped imperatively with `exclude_properties`: a secret column has no
attribute, is never in a SELECT, and so cannot reach a page, an export, a search or a sort.

Which columns are secret: the known bearer secrets and hashes below, and, for a column this
module does not know (a table or column added later), every text column except identifiers.
Non-text columns (timestamps, flags, counters) are shown. To show a new text column, add it to
`SHOWN_TEXT_COLUMNS` after checking that it holds no credential.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import Column, String, Table
from sqlalchemy.orm import registry, relationship

from auth_service.db.schema import Schema

# Never shown. Session tokens are bearer credentials; verification identifiers can hold the
# token itself (`reset-password:<token>`, magic links) and values the OTP or the user id.
SECRET_COLUMNS: dict[str, frozenset[str]] = {
    "session": frozenset({"token"}),
    "account": frozenset({"access_token", "refresh_token", "id_token", "password"}),
    "verification": frozenset({"identifier", "value"}),
    "jwks": frozenset({"private_key"}),
}

# Text columns known to hold no credential.
SHOWN_TEXT_COLUMNS: dict[str, frozenset[str]] = {
    "user": frozenset({"name", "email", "image"}),
    "session": frozenset({"ip_address", "user_agent"}),
    "account": frozenset({"account_id", "provider_id", "scope"}),
    "jwks": frozenset({"public_key", "alg", "crv"}),
    "rate_limit": frozenset({"key"}),
}

# What a row is called in links to it (a session's user shows as its e-mail).
LABEL_COLUMN: dict[str, str] = {"user": "email"}


def is_secret(table: str, column: Column[Any]) -> bool:
    key = column.key
    if key in SECRET_COLUMNS.get(table, frozenset()):
        return True
    if not isinstance(column.type, String):  # timestamps, booleans, numbers
        return False
    if key == "id" or key.endswith("_id"):
        return False
    return key not in SHOWN_TEXT_COLUMNS.get(table, frozenset())


class StudioRow:
    """Base of the mapped classes; a row prints as its label column (its id by default)."""

    label_key: ClassVar[str] = "id"

    def __str__(self) -> str:
        return str(getattr(self, self.label_key, "") or "")


@dataclass(frozen=True)
class StudioTable:
    logical: str  # the schema's name for it: "user", "rate_limit", ...
    table: Table
    model: type[StudioRow]
    shown: tuple[str, ...]  # column keys, in table order
    hidden: tuple[str, ...]  # secret column keys, never mapped
    relations: dict[str, str]  # attribute -> logical name of the table it points to

    @property
    def text_columns(self) -> tuple[str, ...]:
        return tuple(key for key in self.shown if isinstance(self.table.c[key].type, String))


def schema_tables(schema: Schema) -> dict[str, Table]:
    """The schema's tables by logical name, including any a later feature adds."""
    return {
        item.name: getattr(schema, item.name)
        for item in dataclasses.fields(schema)
        if isinstance(getattr(schema, item.name), Table)
    }


def class_name(logical: str) -> str:
    return "".join(part.capitalize() for part in logical.split("_"))


def map_tables(schema: Schema, only: set[str] | None = None) -> list[StudioTable]:
    """A mapped class per table (those in `only`, by logical name, when given), in the
    schema's order; a foreign key to another mapped table becomes a relationship named after
    that table (mapped parents first, so the target exists)."""
    mapper_registry = registry()
    tables = schema_tables(schema)
    by_table = {table: logical for logical, table in tables.items()}
    mapped: dict[str, StudioTable] = {}
    for table in schema.metadata.sorted_tables:
        logical = by_table.get(table)
        if logical is None or (only is not None and logical not in only):
            continue
        hidden = tuple(column.key for column in table.c if is_secret(logical, column))
        if not table.primary_key.columns or any(c.key in hidden for c in table.primary_key):
            continue  # rows could not be told apart without showing a secret
        shown = tuple(column.key for column in table.c if column.key not in hidden)
        model = type(
            class_name(logical),
            (StudioRow,),
            {"__module__": __name__, "label_key": LABEL_COLUMN.get(logical, "id")},
        )
        properties: dict[str, Any] = {}
        relations: dict[str, str] = {}
        for foreign_key in table.foreign_keys:
            target = mapped.get(by_table.get(foreign_key.column.table, ""))
            if target is None or foreign_key.parent.key in hidden or target.logical in shown:
                continue
            properties[target.logical] = relationship(
                target.model, foreign_keys=[foreign_key.parent], lazy="selectin", viewonly=True
            )
            relations[target.logical] = target.logical
        mapper_registry.map_imperatively(
            model, table, exclude_properties=set(hidden), properties=properties
        )
        mapped[logical] = StudioTable(logical, table, model, shown, hidden, relations)
    return [mapped[logical] for logical in tables if logical in mapped]
