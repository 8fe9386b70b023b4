"""Statements written once: ``:name`` parameters rendered to ``?`` for SQLite and ``$n`` for PostgreSQL, bound from a
mapping or from values in order, and the one join that differs between the databases."""

from __future__ import annotations

import pytest

from pixie.storage.statements.dialect import POSTGRESQL, SQLITE, Dialect, Statement, Values


def test_named_parameters_render_per_database() -> None:
    statement = Statement("UPDATE t SET a = :now WHERE id = :id AND b < :now")
    assert statement.sqlite == "UPDATE t SET a = ? WHERE id = ? AND b < ?"
    assert statement.postgresql == "UPDATE t SET a = $1 WHERE id = $2 AND b < $1"
    assert statement.names == ("now", "id")
    assert statement.sqlite_names == ("now", "id", "now")


def test_quotes_and_casts_are_not_parameters() -> None:
    statement = Statement("""SELECT ':x', "a:b", '[]'::json, c COLLATE "C" FROM t WHERE d = :d AND e = 'it''s :e'""")
    assert statement.names == ("d",)
    assert statement.postgresql.endswith("WHERE d = $1 AND e = 'it''s :e'")
    assert "'[]'::json" in statement.postgresql and "'[]'::json" in statement.sqlite


def test_binding_from_a_mapping_or_from_values_in_order() -> None:
    statement = Statement("UPDATE t SET a = :now WHERE id = :id AND b < :now")
    by_name = {"id": 7, "now": 1.5, "unused": "ignored"}
    assert statement.sqlite_args(by_name) == (1.5, 7, 1.5)
    assert statement.postgresql_args(by_name) == (1.5, 7)
    assert statement.sqlite_args(Values((1.5, 7))) == (1.5, 7, 1.5)  # reordered for the repeated name
    assert statement.postgresql_args(Values((1.5, 7))) == (1.5, 7)
    with pytest.raises(KeyError):
        statement.sqlite_args({"id": 7})


def test_one_and_no_parameters() -> None:
    assert Statement("SELECT 1 FROM t WHERE id = :id").sqlite_args({"id": 3}) == (3,)
    assert Statement("SELECT 1").postgresql_args({}) == ()


def test_renderings_must_take_the_same_parameters() -> None:
    def differs(dialect: Dialect) -> str:
        return "SELECT :a" if dialect is SQLITE else "SELECT :b"

    with pytest.raises(ValueError, match="different parameters"):
        Statement(differs)


def test_a_row_joined_by_its_key() -> None:
    """SQLite plans a plain join as a key probe; PostgreSQL gets a fenced LATERAL lookup (see Dialect.join_by_key)."""
    on = "u.tenant_id = s.tenant_id AND u.user_id = s.user_id"
    assert SQLITE.join_by_key("users", "tenant_id, user_id", "u", on) == f"LEFT JOIN users AS u ON {on}"
    assert POSTGRESQL.join_by_key("users", "tenant_id, user_id", "u", on, outer=False) == (
        f"JOIN LATERAL (SELECT tenant_id, user_id FROM users AS u WHERE {on} OFFSET 0) AS u ON TRUE"  # noqa: S608
    )
