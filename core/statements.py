"""Statements Django compiles once per connection and runs again with new values.

Building and compiling a queryset costs more than running it for the small reads every API
request makes (the bearer token with its holder's standing: about 1 ms to build and compile,
0.1 ms to run). A ``Compiled`` statement is built and compiled once, with stand-in values, per
database connection; each run puts the request's values where the stand-ins were in the compiled
parameters and turns the rows into model instances as ``QuerySet`` iteration does.

Only for a queryset whose SQL does not depend on its values: a key, a hash, a time compared in
``WHERE`` (not a list of varying length, not a value that may be None and turn into ``IS NULL``).
A stand-in must reach the parameters unchanged, the very object (true of strings, UUIDs and
datetimes on PostgreSQL), and a second build with other stand-ins must give the same SQL with them
in the same places; where not (SQLite writes a datetime as text; a build that strips or rewrites
a value), or the queryset does not yield model instances, every run builds the queryset through
the ORM as before.
(``django-prepared-queries`` does this substitution too; it has not been released for a Django
of this decade.)

A ``Template`` does the same for a statement whose SQL has a few forms (a page size, a cursor or
none): one compiled statement per form, and lists of ids as one array parameter each
(``field__any``, PostgreSQL), so that their length does not change the SQL.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, NotSupportedError, connection, connections, router
from django.db.models import Field, ForeignObject, Lookup, Model, Q, QuerySet, prefetch_related_objects
from django.db.models.query import ModelIterable, get_related_populators  # type: ignore[attr-defined]


def stand_in(kind: type) -> Any:
    """A value of ``kind`` that no request holds, to find where a value goes in the parameters."""
    if kind is str:
        # Spaces and capitals: a build that strips or changes case makes another string of it.
        return f" Stand-In {uuid.uuid4()} "
    if kind is uuid.UUID:
        return uuid.uuid4()
    if kind is dt.datetime:
        return dt.datetime(1901, 1, 1, 0, 0, 0, uuid.uuid4().int % 999_999 + 1, tzinfo=dt.UTC)
    if kind is int:
        return uuid.uuid4().int % (1 << 61) + (1 << 61)  # a fresh object: no small int's cached one
    if kind is list:
        return [uuid.uuid4()]  # a list of ids (``field__any``)
    raise TypeError(f"No stand-in for {kind.__name__}")


def places(params: list[Any] | tuple[Any, ...], stand_ins: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Where each stand-in is in ``params``: the very object, or an equal one of its type (a list of
    ids is copied on its way in). Stand-ins are random: no other parameter equals one."""
    return {
        name: tuple(i for i, p in enumerate(params) if p is value or (type(p) is type(value) and p == value))
        for name, value in stand_ins.items()
    }


def slots_of(
    sql: str, params: list[Any] | tuple[Any, ...], stand_ins: Mapping[str, Any], again: Callable[..., tuple[str, Any]]
) -> dict[str, tuple[int, ...]] | None:
    """Where each stand-in went in ``params`` (compiled from ``sql`` with ``stand_ins``), if every one
    is found and ``again(**others)``, the same statement built with other stand-ins of the same
    kinds, gives the same SQL with them in the same places; else None (the values cannot be put in)."""
    slots = places(params, stand_ins)
    if not all(slots.values()):
        return None  # a value was turned into something else on its way to the parameters
    others = {name: stand_in(type(value)) for name, value in stand_ins.items()}
    again_sql, again_params = again(**others)
    if again_sql != sql or places(again_params, others) != slots:
        return None
    return slots


def filled(params: tuple[Any, ...], slots: dict[str, tuple[int, ...]], values: Mapping[str, Any]) -> list[Any]:
    """``params`` with each value in its slots."""
    out = list(params)
    for name, places_of_name in slots.items():
        for place in places_of_name:
            out[place] = values[name]
    return out


class AnyOf(Lookup[bool]):
    """``field__any=ids``: ``field = ANY(%s::<type>[])``, the list as one parameter (PostgreSQL), so
    that the statement's SQL is the same whatever the list's length (``IN`` has a placeholder per
    item). PostgreSQL turns an ``IN`` list into the same ``= ANY`` array, so the plans do not change."""

    lookup_name = "any"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        if connection.vendor != "postgresql":
            raise NotSupportedError("field__any is for PostgreSQL; use among(), which falls back to __in")
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::{self.lhs.output_field.db_type(connection)}[])", [*lhs_params, self.rhs]


Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)  # a relation's lookups are its own, not its field's


def among(field: str, ids: list[Any]) -> Q:
    """``field`` is one of ``ids``: one array parameter on PostgreSQL (``AnyOf``), ``IN`` elsewhere."""
    return Q(**{f"{field}__any" if connection.vendor == "postgresql" else f"{field}__in": ids})


@dataclass(frozen=True)
class _Plan:
    sql: str
    params: tuple[Any, ...]
    slots: dict[str, tuple[int, ...]]  # where each value goes in ``params``
    model: type[Model]
    init_list: list[str]
    start: int
    end: int
    populators: list[Any]
    annotations: dict[str, int]
    converters: dict[int, Any]
    compiler: Any
    prefetch: tuple[Any, ...]


class Compiled:
    """``build(**values)``, a queryset of ``model``, compiled once per connection with stand-ins
    of the ``kinds`` given, then run with the caller's values:
    ``Compiled("token", ApiToken, build, token_hash=str)(token_hash=...)`` returns the model
    instances ``list(build(token_hash=...))`` would."""

    def __init__(self, name: str, model: type[Model], build: Callable[..., QuerySet[Any]], /, **kinds: type) -> None:
        self.name, self.model, self.build, self.kinds = name, model, build, kinds
        self.attribute = f"_compiled_statement_{name}"

    def __call__(self, /, **values: Any) -> list[Any]:
        if values.keys() != self.kinds.keys():
            raise TypeError(f"{self.name} takes {sorted(self.kinds)}, got {sorted(values)}")
        plan = self.plan()
        if plan is None:
            return list(self.build(**values))
        params = filled(plan.params, plan.slots, values)
        connection = plan.compiler.connection
        with connection.cursor() as cursor:
            cursor.execute(plan.sql, params)
            rows = cursor.fetchall()
        if plan.converters:
            rows = list(plan.compiler.apply_converters(rows, plan.converters))
        db = connection.alias
        objects = []
        for row in rows:
            obj = plan.model.from_db(db, plan.init_list, row[plan.start : plan.end])
            for populator in plan.populators:
                populator.populate(row, obj)
            for attribute, place in plan.annotations.items():
                setattr(obj, attribute, row[place])
            objects.append(obj)
        if plan.prefetch and objects:
            prefetch_related_objects(objects, *plan.prefetch)
        return objects

    def plan(self) -> _Plan | None:
        """This connection's compiled statement (None: run through the ORM each time), made on first use."""
        connection = connections[router.db_for_read(self.model)]
        kept = connection.__dict__.get(self.attribute)
        if kept is not None:
            return kept or None
        stand_ins = {name: stand_in(kind) for name, kind in self.kinds.items()}
        queryset = self.build(**stand_ins)
        plan = self._compile(queryset, stand_ins) if queryset.db == connection.alias else None
        connection.__dict__[self.attribute] = plan or False
        return plan

    def _compile(self, queryset: QuerySet[Any], stand_ins: dict[str, Any]) -> _Plan | None:
        if queryset._iterable_class is not ModelIterable or queryset._known_related_objects:  # type: ignore[attr-defined]
            return None
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        slots = slots_of(
            sql, params, stand_ins, lambda **others: self.build(**others).query.get_compiler(using=queryset.db).as_sql()
        )
        if slots is None:
            return None
        select, klass_info = compiler.select, compiler.klass_info
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        return _Plan(
            sql=sql,
            params=tuple(params),
            slots=slots,
            model=klass_info["model"],
            init_list=[column[0].target.attname for column in select[start:end]],
            start=start,
            end=end,
            populators=get_related_populators(klass_info, select, queryset.db),
            annotations=dict(compiler.annotation_col_map or {}),
            converters=compiler.get_converters([column[0] for column in select[: compiler.col_count]]),
            compiler=compiler,
            prefetch=tuple(queryset._prefetch_related_lookups),  # type: ignore[attr-defined]
        )


@dataclass(frozen=True)
class _Form:
    sql: str
    params: tuple[Any, ...]
    slots: dict[str, tuple[int, ...]]
    extra: Any


class Template:
    """A statement with a few forms, each compiled once per connection: ``build(form, **values)``
    returns ``(sql, params, extra)`` for one form (a hashable: what changes the SQL, such as a page
    size); ``template(form, **values)`` returns the same, built once per connection and form with
    stand-ins of the values' types (``stand_in``) and run with these values. ``None`` where the
    values cannot be put in place (a value missing from the parameters, or moved by a second build
    with other stand-ins): the caller builds the statement itself. Forms are few; past ``FORMS`` on
    one connection, the kept ones are dropped."""

    FORMS = 64

    def __init__(self, name: str, build: Callable[..., tuple[str, list[Any], Any]], /) -> None:
        self.name, self.build = name, build
        self.attribute = f"_statement_template_{name}"

    def __call__(self, form: Hashable, /, **values: Any) -> tuple[str, list[Any], Any] | None:
        # The connection of this thread itself: ``django.db.connection`` is a proxy shared by every
        # thread, whose own ``__dict__`` would keep one form for all of them (and the compiler in
        # ``extra`` of another thread's connection).
        forms: dict[Hashable, _Form | None] = connections[DEFAULT_DB_ALIAS].__dict__.setdefault(self.attribute, {})
        key = (form, tuple(sorted((name, type(value)) for name, value in values.items())))
        if key not in forms:
            if len(forms) >= self.FORMS:
                forms.clear()
            forms[key] = self._compile(form, {name: type(value) for name, value in values.items()})
        kept = forms[key]
        if kept is None:
            return None
        return kept.sql, filled(kept.params, kept.slots, values), kept.extra

    def _compile(self, form: Hashable, kinds: dict[str, type]) -> _Form | None:
        stand_ins = {name: stand_in(kind) for name, kind in kinds.items()}
        sql, params, extra = self.build(form, **stand_ins)
        slots = slots_of(sql, params, stand_ins, lambda **others: self.build(form, **others)[:2])
        return None if slots is None else _Form(sql, tuple(params), slots, extra)
