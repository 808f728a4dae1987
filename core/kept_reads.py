"""Reads of rows (``values()``, ``values_list()``) kept compiled per connection.

Building and compiling a queryset of a few filters costs more than running it when it reads a
row or two by key: the small reads with which ``/plan`` is brought up to date after a change
(``api.plan_updates``, ``cadence.health.patch_state``) spent some 0.7 ms on each statement before
it reached the database. ``core.statements.Template`` keeps a statement's SQL per connection and
form and puts the values in; ``KeptRows`` runs such a statement when it is a ``values()`` or
``values_list()`` queryset and gives its rows as the queryset gives them: dicts or tuples, each
field's converters applied. Where the values cannot be put in place (another database than
PostgreSQL, where lists of ids do not go in as one array; a value the build changes), the queryset
runs through the ORM each time, as before.

A build must use ``core.statements.among`` for lists of ids (one array parameter, whatever the
list's length) and take everything else its SQL depends on from the form (a day, a limit): a value
that is neither a form nor a value passed in would be kept from the first build.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from django.db import connection, connections
from django.db.models import QuerySet
from django.db.models.query import ValuesIterable, ValuesListIterable

from .statements import Template


class KeptRows:
    """``build(form, **values)``, a ``values()`` or ``values_list()`` queryset, compiled once per
    connection and form: ``KeptRows("name", build)(form, **values)`` returns the rows
    ``list(build(form, **values))`` would."""

    def __init__(self, name: str, build: Callable[..., QuerySet[Any, Any]], /) -> None:
        self.build = build
        self.template = Template(name, self._statement)

    def __call__(self, form: Hashable, /, **values: Any) -> list[Any]:
        kept = self.template(form, **values) if connection.vendor == "postgresql" else None
        if kept is None:
            return list(self.build(form, **values))
        sql, params, (compiler, converters, names) = kept
        with connections[compiler.using].cursor() as cursor:  # this thread's
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if converters:
            rows = list(compiler.apply_converters(rows, converters))
        if names is None:
            return [tuple(row) for row in rows]
        return [dict(zip(names, row, strict=True)) for row in rows]

    def _statement(self, form: Hashable, /, **values: Any) -> tuple[str, list[Any], Any]:
        queryset = self.build(form, **values)
        iterable = queryset._iterable_class
        if iterable not in (ValuesIterable, ValuesListIterable):
            raise TypeError(f"KeptRows reads values() or values_list() querysets, not {iterable.__name__}")
        query = queryset.query
        compiler = query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        converters = compiler.get_converters([column[0] for column in compiler.select[: compiler.col_count]])
        # As ``ValuesIterable`` names a row's values.
        names = (
            (
                list(query.selected)
                if query.selected
                else [*query.extra_select, *query.values_select, *query.annotation_select]
            )
            if iterable is ValuesIterable
            else None
        )
        return sql, list(params), (compiler, converters, names)
