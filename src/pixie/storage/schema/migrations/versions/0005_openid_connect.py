"""OpenID Connect: user profiles, the request parameters and session an ID token needs, logout URIs per client.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

``users`` gain the standard profile claims Pixie releases (``name``, ``given_name``, ``family_name``, ``email``,
``email_verified``). A pending authorization request keeps ``nonce``, ``max_age``, ``login_hint`` and
``response_mode``; a code keeps ``nonce`` and the ``sid`` of the SSO session that signed in, and a refresh family
keeps that ``sid`` too, so ending the session (RP-Initiated Logout) revokes what it produced. ``clients`` gain
``post_logout_redirect_uris`` and ``id_token_signed_response_alg``. The users' unique (tenant, username)
constraint is led by ``username`` now, as the secondary indexes were in 0003 (a never-analyzed PostgreSQL planned
key lookups of a user as scans of the tenant through it once the rows widened). Existing rows get empty profiles,
no logout URIs and the tenant's algorithm.

Written by hand and frozen, like 0001 (plain JSON, not the application's StrTuple).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _swap_unique(old: str, new: str, columns: list[str]) -> None:
    """Replace the users' unique constraint ``old`` by ``new`` over ``columns`` (SQLite: by copying the table)."""
    if op.get_bind().dialect.name == "sqlite":
        # op.f: the names are final (the target metadata's naming convention would otherwise rename them).
        with op.batch_alter_table("users", recreate="always") as batch:
            batch.drop_constraint(op.f(old), type_="unique")
            batch.create_unique_constraint(op.f(new), columns)
    else:
        op.drop_constraint(op.f(old), "users", type_="unique")
        op.create_unique_constraint(op.f(new), "users", columns)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        for name in ("name", "given_name", "family_name", "email"):
            batch.add_column(sa.Column(name, sa.String(), nullable=True))
        batch.add_column(sa.Column("email_verified", sa.Boolean(), nullable=False, server_default=sa.false()))
    _swap_unique("uq_users_tenant_id_username", "uq_users_username_tenant_id", ["username", "tenant_id"])
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("post_logout_redirect_uris", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("id_token_signed_response_alg", sa.String(), nullable=True))
    with op.batch_alter_table("authorization_requests") as batch:
        batch.add_column(sa.Column("nonce", sa.String(), nullable=True))
        batch.add_column(sa.Column("max_age", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("login_hint", sa.String(), nullable=True))
        batch.add_column(sa.Column("response_mode", sa.String(), nullable=True))
    with op.batch_alter_table("authorization_codes") as batch:
        batch.add_column(sa.Column("nonce", sa.String(), nullable=True))
        batch.add_column(sa.Column("sid", sa.String(), nullable=True))
    with op.batch_alter_table("refresh_families") as batch:
        batch.add_column(sa.Column("sid", sa.String(), nullable=True))
    op.create_index("ix_refresh_families_sid_tenant_id", "refresh_families", ["sid", "tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_refresh_families_sid_tenant_id", table_name="refresh_families")
    with op.batch_alter_table("refresh_families") as batch:
        batch.drop_column("sid")
    with op.batch_alter_table("authorization_codes") as batch:
        batch.drop_column("sid")
        batch.drop_column("nonce")
    with op.batch_alter_table("authorization_requests") as batch:
        for name in ("response_mode", "login_hint", "max_age", "nonce"):
            batch.drop_column(name)
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("id_token_signed_response_alg")
        batch.drop_column("post_logout_redirect_uris")
    _swap_unique("uq_users_username_tenant_id", "uq_users_tenant_id_username", ["tenant_id", "username"])
    with op.batch_alter_table("users") as batch:
        for name in ("email_verified", "email", "family_name", "given_name", "name"):
            batch.drop_column(name)
