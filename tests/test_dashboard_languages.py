"""The dashboard decides what a waiting goal asks of the reader (approve, or revise what was sent
back) by its state, not by its words: the same in every language."""

from __future__ import annotations

import pytest
from django.utils import translation
from django.utils.translation import gettext

from accounts.models import User
from goals import services as goals
from tests import factories as f


@pytest.mark.parametrize("language", ["en", "de", "fr", "es"])
def test_a_goal_sent_back_asks_the_reader_to_revise_in_their_language(client, cast, language):
    editor = cast.access("vendor_editor")
    goal = f.make_goal(editor, f.make_objective(editor), title="Pipeline Q4")
    goals.goal_propose(access=editor, goal_id=goal.pk)
    goals.goal_request_changes(access=cast.access("partner_approver"), goal_id=goal.pk, comment="Target 4, please")
    User.objects.filter(pk=cast.vendor_editor.pk).update(language=language)
    client.force_login(cast.vendor_editor)
    with translation.override(language):
        revise = gettext("Revise")
    for path in ("/", "/lists/waiting/"):
        html = client.get(path).content.decode()
        assert "Pipeline Q4" in html, path
        assert f">{revise}<" in html, path
        if language != "en":
            assert ">Revise<" not in html, path
