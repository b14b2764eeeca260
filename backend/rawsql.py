"""Hand-written SQL for the hot paths (redeem, interest registration, the feed append).

The ORM spends most of a hot request's CPU compiling queries and building models, not in the
database (bench/README.md, "Where the time goes"). The few statements on the hot paths are
written here once per shape, from the models' own table and column names, and go through the
models' own field preparation and converters, so values are stored and read exactly as the
ORM would (aware datetimes, JSON, booleans) on SQLite and PostgreSQL alike.

Everything else uses the ORM. Raw statements run on `django.db.connection`, inside the
caller's `transaction.atomic()`. A process talks to one database, so each statement's text is
built once (`@statement`) and reused.
"""

from __future__ import annotations

import functools

from django.db import DEFAULT_DB_ALIAS, connection, connections, models

# A statement builder without arguments, run once per process: its SQL text is reused.
statement = functools.cache

_ROW_BUILDERS: dict[str, list] = {}
_INSERT_SQL: dict[tuple, tuple[str, list]] = {}


def q(name: str) -> str:
    return connection.ops.quote_name(name)


def table(model) -> str:
    return q(model._meta.db_table)


def select_list(model, alias: str) -> str:
    """`alias."col1", alias."col2", …` for every concrete field, in from_row's order."""
    return ", ".join(f"{alias}.{q(f.column)}" for f in model._meta.concrete_fields)


def width(model) -> int:
    return len(model._meta.concrete_fields)


def from_row(model, values, alias: str | None = None):
    """A model instance from raw column values (in `select_list` order), through the same
    converters the ORM applies (aware datetimes, booleans, JSON …)."""
    alias = alias or connection.alias
    key = f"{alias}:{model._meta.label}"
    fields = _ROW_BUILDERS.get(key)
    if fields is None:
        conn = connections[alias]
        fields = []
        for field in model._meta.concrete_fields:
            col = field.get_col(model._meta.db_table)
            fields.append((field.attname, col, conn.ops.get_db_converters(col) + col.get_db_converters(conn)))
        _ROW_BUILDERS[key] = fields
    conn = connections[alias]
    converted = []
    for (_name, col, converters), value in zip(fields, values):
        for converter in converters:
            value = converter(value, col, conn)
        converted.append(value)
    return model.from_db(alias, [name for name, _c, _v in fields], converted)


# Fields whose Python value goes to the database driver as it is (no adaptation needed).
_PLAIN = (models.CharField, models.TextField, models.IntegerField, models.BooleanField)


def _needs_prep(field) -> bool:
    target = field.target_field if field.is_relation else field
    return not isinstance(target, _PLAIN) or bool(target.choices)  # choices: enum members → values


def insert(model, values: dict) -> None:
    """INSERT one row: `values` maps attnames (e.g. `market_id`) to Python values; fields left
    out must have a database-side or nullable default the caller accepts (none here: pass
    them all but the auto primary key). Raises IntegrityError like `Model.save()` does.
    Values of plain fields (text, integers, booleans, foreign keys to them) go to the driver
    as they are; the others (JSON, datetimes …) through the field's own preparation."""
    conn = connections[DEFAULT_DB_ALIAS]
    key = (conn.alias, model._meta.label, tuple(values))
    cached = _INSERT_SQL.get(key)
    if cached is None:
        fields = [model._meta.get_field(name) for name in values]
        sql = (f"INSERT INTO {table(model)} ({', '.join(q(f.column) for f in fields)}) "
               f"VALUES ({', '.join(['%s'] * len(fields))})")
        cached = _INSERT_SQL[key] = (sql, [f if _needs_prep(f) else None for f in fields])
    sql, fields = cached
    params = [value if field is None or value is None else field.get_db_prep_save(value, conn)
              for field, value in zip(fields, values.values())]
    with conn.cursor() as cursor:
        cursor.execute(sql, params)


def prep(model, attname: str, value):
    """A Python value as the database wants it for `model.attname` (e.g. a datetime)."""
    return model._meta.get_field(attname).get_db_prep_save(value, connection)


def execute(sql: str, params) -> tuple[int, tuple | None]:
    """Run one statement: (rowcount, first row or None)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone() if cursor.description else None
        return cursor.rowcount, row


def rows(sql: str, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def set_prefetched(instance, name: str, objects: list) -> None:
    """Give `instance.<name>.all()` these objects without a query, the way
    `prefetch_related_objects` stores what it fetched."""
    cache = instance.__dict__.setdefault("_prefetched_objects_cache", {})
    manager = getattr(instance, name)
    cache.pop(manager.prefetch_cache_name, None)
    queryset = manager.get_queryset()
    queryset._result_cache = list(objects)
    queryset._prefetch_done = True
    cache[manager.prefetch_cache_name] = queryset
