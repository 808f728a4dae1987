import pytest

from tests.browser_support import browser, live_url, new_page  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_live_server_answers_in_chromium(new_page, live_url):
    page = new_page()
    response = page.goto(f"{live_url}/healthz")
    assert response.status == 200
    assert page.content().count("ok") >= 1
