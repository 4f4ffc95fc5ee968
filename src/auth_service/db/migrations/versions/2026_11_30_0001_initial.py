"""Better Auth's tables: user, session, account, verification, jwks, rate_limit.

Tables that already exist (a database created by Better Auth itself) are left as they are,
so pointing auth-service at an existing Better Auth database adopts it.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import context, op

from auth_service.db.schema import build_schema

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = build_schema(context.config.attributes["naming"])
    schema.metadata.create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    schema = build_schema(context.config.attributes["naming"])
    schema.metadata.drop_all(op.get_bind(), checkfirst=True)
