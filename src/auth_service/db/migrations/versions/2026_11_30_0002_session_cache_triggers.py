"""Notifications for the session cache: `pg_notify('auth_service_cache', <user id>)` after a
session or user row is updated or deleted, `'*'` after either table is truncated.

Harmless without listeners (a notification nobody listens to costs next to nothing); the
optional session cache (SESSION_CACHE_SECONDS) relies on them to drop stale entries in every
replica, whichever program wrote the row.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import context, op

from auth_service.db.schema import build_schema

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CHANNEL = "auth_service_cache"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def upgrade() -> None:
    schema = build_schema(context.config.attributes["naming"])
    session, user = _quote(schema.session.name), _quote(schema.user.name)
    session_user_id = _quote(schema.session.c.user_id.name)
    user_id = _quote(schema.user.c.id.name)
    for function, column in (
        ("auth_service_session_changed", session_user_id),
        ("auth_service_user_changed", user_id),
    ):
        op.execute(
            f"""
            create or replace function {function}() returns trigger language plpgsql as $$
            begin
              perform pg_notify('{CHANNEL}', old.{column}::text);
              return null;
            end $$
            """
        )
    op.execute(
        f"""
        create or replace function auth_service_tables_truncated() returns trigger
        language plpgsql as $$
        begin
          perform pg_notify('{CHANNEL}', '*');
          return null;
        end $$
        """
    )
    for table, function in (
        (session, "auth_service_session_changed"),
        (user, "auth_service_user_changed"),
    ):
        op.execute(f"drop trigger if exists {function} on {table}")
        op.execute(
            f"create trigger {function} after update or delete on {table} "
            f"for each row execute function {function}()"
        )
        trigger = f"auth_service_truncated_{'session' if table == session else 'user'}"
        op.execute(f"drop trigger if exists {trigger} on {table}")
        op.execute(
            f"create trigger {trigger} after truncate on {table} "
            "for each statement execute function auth_service_tables_truncated()"
        )


def downgrade() -> None:
    schema = build_schema(context.config.attributes["naming"])
    session, user = _quote(schema.session.name), _quote(schema.user.name)
    for table, name in ((session, "session"), (user, "user")):
        op.execute(f"drop trigger if exists auth_service_{name}_changed on {table}")
        op.execute(f"drop trigger if exists auth_service_truncated_{name} on {table}")
    for function in (
        "auth_service_session_changed",
        "auth_service_user_changed",
        "auth_service_tables_truncated",
    ):
        op.execute(f"drop function if exists {function}()")
