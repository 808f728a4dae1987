"""``manage.py create_workspace``: a vendor organisation and its admin, without prompts."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Organisation, OrganisationMembership, User

PASSWORD = "plans-not-quotas-2026"


def run(*args: str) -> str:
    out = StringIO()
    call_command("create_workspace", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_create_workspace_creates_the_vendor_and_its_admin_who_can_sign_in(client):
    output = run(
        "--name", "Acme Cloud", "--email", "Vera@Acme.Example", "--password", PASSWORD, "--full-name", "Vera Vendor"
    )

    user = User.objects.get()
    assert user.email == "vera@acme.example"
    assert user.full_name == "Vera Vendor"
    membership = OrganisationMembership.objects.get(user=user)
    assert membership.organisation.name == "Acme Cloud"
    assert membership.role == OrganisationMembership.Role.ADMIN
    assert "Acme Cloud" in output and "vera@acme.example" in output
    assert PASSWORD not in output
    assert client.login(email="vera@acme.example", password=PASSWORD)


@pytest.mark.django_db
def test_create_workspace_refuses_an_email_that_is_registered_already():
    run("--name", "Acme Cloud", "--email", "vera@acme.example", "--password", PASSWORD)

    with pytest.raises(CommandError, match="exists already"):
        run("--name", "Another Co", "--email", "VERA@acme.example", "--password", PASSWORD)
    assert Organisation.objects.count() == 1
    assert User.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "  ", "--email", "a@acme.example", "--password", PASSWORD], "needs a name"),
        (["--name", "Acme", "--email", "not-an-address", "--password", PASSWORD], "valid email"),
        (["--name", "Acme", "--email", "", "--password", PASSWORD], "email"),
        (["--name", "Acme", "--email", "a@acme.example", "--password", "short"], "too short"),
        (["--name", "Acme", "--email", "a@acme.example", "--password", "password123"], "too common"),
        (["--name", "Acme\x00", "--email", "a@acme.example", "--password", PASSWORD], "NUL"),
    ],
)
def test_create_workspace_rejects_bad_input_with_a_clear_error_and_writes_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not Organisation.objects.exists()
    assert not User.objects.exists()


def test_create_workspace_needs_every_required_option():
    with pytest.raises(CommandError, match="--password"):
        call_command("create_workspace", "--name", "Acme", "--email", "a@acme.example")
