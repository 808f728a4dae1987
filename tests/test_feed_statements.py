"""The feed page's statement kept compiled per connection and form (``api.feed.PAGES``, a
``core.statements.Template``), and lists of ids as one array parameter (``field__any``). A kept
statement reads what the statement built for the request reads, for every person and cursor, is
built once per form, and never answers with another request's values: a membership removed is gone
from the next page."""

from __future__ import annotations

import uuid

import pytest
from django.db import NotSupportedError, connection
from django.test.utils import CaptureQueriesContext

from accounts.models import ApiToken
from alignment import access
from alignment import services as plan
from alignment.access import resolve
from alignment.models import Partnership, PartnershipMember
from api import feed
from core.statements import Template, among
from tests import factories as f
from tests.api_support import ApiClient
from tests.test_api_feed import follow


@pytest.mark.postgres
def test_any_is_in_with_one_parameter_whatever_the_lists_length(cast):
    ids = [cast.partnership.pk, cast.outsider_partnership.pk, uuid.uuid4()]
    for chosen in ([], ids[:1], ids[1:], ids):
        qs = Partnership.objects.filter(among("id", chosen) | among("vendor_id", []))
        assert set(qs.values_list("pk", flat=True)) == {pk for pk in chosen if pk != ids[2]}
        sql, params = qs.query.sql_with_params()
        assert sql.count("%s") == 2 and chosen in params  # the list itself, one parameter
    # A relation takes it too (vendor_id is a foreign key), compared as uuid[].
    vendor = cast.partnership.vendor_id
    assert list(Partnership.objects.filter(vendor_id__any=[vendor]).values_list("pk", flat=True)) == [
        cast.partnership.pk
    ]
    assert list(Partnership.objects.filter(vendor_id__any=[str(vendor)]).values_list("pk", flat=True)) == [
        cast.partnership.pk
    ]


def test_the_rule_of_visible_partnerships_is_the_same_with_the_standing_and_without(cast):
    """``partnerships_of`` (the standing's ids as arrays) and the subqueries read as it is now agree,
    for members, an admin of the vendor and people who see nothing."""
    other = f.make_user("admin@other-vendor.test")
    for user in (cast.vendor_admin, cast.vendor_editor, cast.partner_viewer, cast.outsider, other):
        live = set(access.visible_partnerships(user).values_list("pk", flat=True))
        members = list(PartnershipMember.objects.filter(user=user).values_list("partnership_id", flat=True))
        admin_orgs = list(access._admin_org_ids(user).values_list("organisation_id", flat=True))
        stored = set(access.partnerships_of(members=members, admin_orgs=admin_orgs).values_list("pk", flat=True))
        assert stored == live


def test_among_is_one_array_on_postgresql_and_in_elsewhere(cast):
    ids = [cast.partnership.pk, uuid.uuid4()]
    qs = Partnership.objects.filter(among("id", ids))
    assert list(qs.values_list("pk", flat=True)) == [cast.partnership.pk]
    sql, _ = qs.query.sql_with_params()
    if connection.vendor == "postgresql":
        assert "= ANY(%s::uuid[])" in sql
    else:
        assert " IN (%s, %s)" in sql
        with pytest.raises(NotSupportedError):
            list(Partnership.objects.filter(id__any=ids))


@pytest.mark.postgres
def test_a_template_is_built_once_per_form_and_runs_with_each_callers_values(cast):
    built = []

    def build(form, /, *, name, ids):  # type: ignore[no-untyped-def]
        built.append(form)
        qs = Partnership.objects.filter(among("id", ids), name=name)[:form]
        sql, params = qs.query.sql_with_params()
        return sql, list(params), qs

    template = Template(f"test_{uuid.uuid4().hex}", build)
    pks = [cast.partnership.pk, cast.outsider_partnership.pk]
    names = {}
    for prefix in ("Acme × Northwind", "Other × Elsewhere", "Nobody"):
        sql, params, _ = template(5, name=prefix, ids=pks)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            names[prefix] = [row[0] for row in cursor.fetchall()]
    assert names == {
        "Acme × Northwind": [cast.partnership.pk],
        "Other × Elsewhere": [cast.outsider_partnership.pk],
        "Nobody": [],
    }
    assert built == [5, 5]  # built with stand-ins, then again to check the places; not per call
    template(1, name="Acme", ids=[])
    assert built == [5, 5, 1, 1]  # another form is another statement


@pytest.mark.postgres
def test_a_template_whose_values_do_not_reach_the_parameters_is_not_kept(cast):
    def build(form, /, *, name):  # type: ignore[no-untyped-def]
        qs = Partnership.objects.filter(name__startswith=name.strip())  # the value is changed on its way
        sql, params = qs.query.sql_with_params()
        return sql, list(params), None

    assert Template(f"test_{uuid.uuid4().hex}", build)("form", name="Acme") is None


def built_page(monkeypatch):  # type: ignore[no-untyped-def]
    """Calls of the page's builder from here on (a kept statement builds nothing)."""
    calls = []
    real = feed._page_of
    monkeypatch.setattr(feed.PAGES, "build", lambda form, **values: calls.append(form) or real(form, **values))
    return calls


@pytest.mark.postgres
def test_a_kept_page_reads_what_the_built_page_reads(cast, monkeypatch):
    editor = resolve(cast.vendor_editor, cast.partnership.pk)
    for title in ("One", "Two", "Three", "Four"):
        plan.objective_create(access=editor, title=title)
    other = resolve(cast.outsider, cast.outsider_partnership.pk)
    plan.objective_create(access=other, title="Elsewhere")
    for user in (cast.vendor_admin, cast.vendor_editor, cast.partner_viewer, cast.outsider):
        standing = access.standing_ids(user)
        assert standing is None  # no token read it: the page is built from the live subqueries
        members = list(PartnershipMember.objects.filter(user=user).values_list("partnership_id", flat=True))
        admin_orgs = list(access._admin_org_ids(user).values_list("organisation_id", flat=True))
        kept_spec = feed.Partnerships(
            lambda **v: access.partnerships_of(**v).values("pk"), {"members": members, "admin_orgs": admin_orgs}
        )
        live = access.visible_partnerships(user).values("pk")
        since = None
        for limit in (2, 3, 1000):
            kept = feed.feed_page(partnership_ids=kept_spec, since=since, limit=limit, reader=user)
            built = feed.feed_page(partnership_ids=live, since=since, limit=limit, reader=user)
            assert kept == built
            assert all(row._fields == theirs._fields for row, theirs in zip(kept[0], built[0], strict=True))
            if kept[0]:
                since = (kept[0][0].txid, kept[0][0].seq)
    one = feed.Partnerships(feed.one_partnership, {"partnership": cast.partnership.pk})
    first, _ = feed.feed_page(partnership_ids=one, since=None, limit=1000)
    assert first == feed.feed_page(partnership_ids=[cast.partnership.pk], since=None, limit=1000)[0]
    assert {row.partnership_key for row in first} == {str(cast.partnership.pk)}


@pytest.mark.postgres
def test_an_incremental_sync_builds_nothing_and_answers_for_each_person(cast, monkeypatch):
    """Through the API (a token: the standing is read with it): after a first page of each form, no
    page is built again; two people with other partnerships share the kept statement and each gets
    their own; a membership removed is effective on the next page."""
    editor = ApiClient(cast.vendor_editor)
    outsider = ApiClient(cast.outsider)
    plan.objective_create(access=resolve(cast.vendor_editor, cast.partnership.pk), title="Ours")
    plan.objective_create(access=resolve(cast.outsider, cast.outsider_partnership.pk), title="Theirs")
    follow(editor)
    follow(outsider)  # every form these reads use is kept now
    calls = built_page(monkeypatch)
    ours, _ = follow(editor)
    theirs, _ = follow(outsider)
    assert calls == []
    assert {e["partnership"] for e in ours} == {str(cast.partnership.pk)}
    assert {e["partnership"] for e in theirs} == {str(cast.outsider_partnership.pk)}
    assert "Ours" in {(e["data"] or {}).get("title") for e in ours}
    assert "Theirs" not in {(e["data"] or {}).get("title") for e in ours}

    before = follow(editor, since=None)[0]
    PartnershipMember.objects.filter(user=cast.vendor_editor, partnership=cast.partnership).delete()
    assert before and follow(editor, since=None)[0] == []  # nothing of a partnership they left
    assert calls == []


@pytest.mark.postgres
def test_the_incremental_sync_is_two_statements_and_its_page_one(cast, monkeypatch):
    client = ApiClient(cast.partner_viewer)
    _, cursor = follow(client)
    client.get("changes", since=cursor)  # the first page of this form (with a cursor) builds it
    calls = built_page(monkeypatch)
    with CaptureQueriesContext(connection) as queries:
        page = client.get("changes", since=cursor).json()
    assert page["results"] == [] and page["cursor"] == cursor
    assert len(queries) == 2 and calls == []  # the token with its standing, and the page with its bounds
    assert "= ANY(" in queries[1]["sql"]


@pytest.mark.postgres
def test_service_and_narrowed_tokens_read_only_their_partnerships(cast, monkeypatch):
    """Tokens whose scope is not a person's standing have their pages built for the request."""
    second = f.make_partnership(cast.vendor_admin, name="Acme × Second")
    plan.objective_create(access=resolve(cast.vendor_admin, second.pk), title="Second's")
    plan.objective_create(access=resolve(cast.vendor_editor, cast.partnership.pk), title="First's")
    _token, narrow = ApiToken.issue(user=cast.vendor_admin, name="narrow", partnerships=[str(cast.partnership.pk)])
    _token, service = ApiToken.issue_service(
        organisation=cast.partnership.vendor, name="crm", created_by=cast.vendor_admin
    )
    _token, whole = ApiToken.issue(user=cast.vendor_admin, name="whole")
    seen = {}
    for name, raw in (("narrow", narrow), ("service", service), ("whole", whole)):
        client = ApiClient()
        client.headers["Authorization"] = f"Bearer {raw}"
        seen[name] = {e["partnership"] for e in follow(client)[0]}
    assert seen["narrow"] == {str(cast.partnership.pk)}
    assert seen["service"] == seen["whole"] == {str(cast.partnership.pk), str(second.pk)}
