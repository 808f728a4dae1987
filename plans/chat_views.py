"""A partnership's chat channels (``plans.chat``), reached from its settings tab: the list of the
person's side's channels with the form that adds one (approvers and admins), and each channel's
page with its settings and delivery log (with one-click redelivery). Outsiders and the other side
get 404; a viewer or editor sees the channels but cannot change them (403 on a POST). The
incoming-webhook URL is never shown again after it is saved: only its host and last characters."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from alignment.access import Access, resolve
from core.errors import DomainError
from core.web import domain_errors, form_errors

from . import chat
from .models import ChatChannel

KIND_CHOICES = list(chat.EVENT_KINDS.items())


class ChannelForm(forms.Form):
    kind = forms.ChoiceField(label=_("Chat service"), choices=ChatChannel.Kind.choices, initial=ChatChannel.Kind.SLACK)
    name = forms.CharField(
        label=_("Name"), max_length=100, widget=forms.TextInput(attrs={"placeholder": "#partner-plan"})
    )
    url = forms.CharField(
        label=_("Incoming-webhook URL"),
        max_length=2000,
        help_text=_(
            "Slack: https://hooks.slack.com/services/…; Teams: https://<tenant>.webhook.office.com/… "
            "or a Power Automate workflow's https://….logic.azure.com/…. Kept secret: shown masked once saved."
        ),
        widget=forms.URLInput(attrs={"autocomplete": "off"}),
    )
    event_kinds = forms.MultipleChoiceField(
        label=_("Events"), choices=KIND_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
    is_active = forms.BooleanField(label=_("On: send notifications to this channel"), required=False, initial=True)

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["kind"]
            self.fields["url"].required = False
            self.fields["url"].help_text = _("Leave empty to keep the saved URL; enter a new one to replace it.")

    @classmethod
    def of(cls, channel: ChatChannel) -> ChannelForm:
        return cls(
            editing=True,
            initial={"name": channel.name, "event_kinds": channel.event_kinds, "is_active": channel.is_active},
        )


def _list(request: HttpRequest, access: Access, form: ChannelForm, *, status: int = 200) -> HttpResponse:
    channels = list(chat.channels_of(access).select_related("owner"))
    context = {
        "access": access,
        "partnership": access.partnership,
        "channels": channels,
        "form": form,
        "can_manage": chat.can_manage(access),
        "side_name": access.partnership.organisation_for(access.side).name,
    }
    return render(request, "chat/list.html", context, status=status)


def _detail(
    request: HttpRequest, access: Access, channel: ChatChannel, form: ChannelForm | None = None, *, status: int = 200
) -> HttpResponse:
    context = {
        "access": access,
        "partnership": access.partnership,
        "channel": channel,
        "masked_url": chat.masked_url(channel.url),
        "form": form or ChannelForm.of(channel),
        "attempts": chat.attempts_of(channel),
        "log_size": chat.LOG_SIZE,
        "can_manage": chat.can_manage(access),
    }
    return render(request, "chat/detail.html", context, status=status)


@login_required
@never_cache
@domain_errors
@require_http_methods(["GET", "POST"])
def chat_channels(request: HttpRequest, pid: uuid.UUID) -> HttpResponse:
    """``p/<pid>/chat/``: the side's chat channels; POST adds one."""
    access = resolve(request.user, pid)
    if request.method != "POST":
        return _list(request, access, ChannelForm())
    chat.require_manage(access)
    form = ChannelForm(request.POST)
    if not form.is_valid():
        return _list(request, access, form, status=400)
    try:
        channel = chat.channel_create(
            user=access.user,
            partnership_id=pid,
            kind=form.cleaned_data["kind"],
            name=form.cleaned_data["name"],
            url=form.cleaned_data["url"],
            event_kinds=form.cleaned_data["event_kinds"],
        )
    except DomainError as exc:
        form_errors(form, exc)
        return _list(request, access, form, status=exc.status)
    messages.success(request, gettext("The channel %(name)s is added.") % {"name": channel.name})
    return redirect("chat_channel", pid, channel.pk)


@login_required
@never_cache
@domain_errors
@require_http_methods(["GET", "POST"])
def chat_channel(request: HttpRequest, pid: uuid.UUID, channel_id: uuid.UUID) -> HttpResponse:
    """A channel's settings and delivery log; POST saves the settings."""
    access = resolve(request.user, pid)
    channel = chat.channel_of(access, channel_id)
    if request.method != "POST":
        return _detail(request, access, channel)
    chat.require_manage(access)
    form = ChannelForm(request.POST, editing=True)
    if not form.is_valid():
        return _detail(request, access, channel, form, status=400)
    try:
        chat.channel_update(
            user=access.user,
            partnership_id=pid,
            channel_id=channel.pk,
            name=form.cleaned_data["name"],
            url=form.cleaned_data["url"],
            event_kinds=form.cleaned_data["event_kinds"],
            is_active=form.cleaned_data["is_active"],
        )
    except DomainError as exc:
        form_errors(form, exc)
        return _detail(request, access, channel, form, status=exc.status)
    messages.success(request, gettext("The channel is saved."))
    return redirect("chat_channel", pid, channel.pk)


@login_required
@domain_errors
@require_POST
def chat_channel_delete(request: HttpRequest, pid: uuid.UUID, channel_id: uuid.UUID) -> HttpResponse:
    access = resolve(request.user, pid)
    chat.channel_delete(user=access.user, partnership_id=pid, channel_id=channel_id)
    messages.success(request, gettext("The channel is deleted."))
    return redirect("chat_channels", pid)


@login_required
@domain_errors
@require_POST
def chat_redeliver(request: HttpRequest, pid: uuid.UUID, channel_id: uuid.UUID, delivery_id: uuid.UUID) -> HttpResponse:
    access = resolve(request.user, pid)
    chat.delivery_redeliver(user=access.user, partnership_id=pid, channel_id=channel_id, delivery_id=delivery_id)
    messages.success(request, gettext("The message is being sent again."))
    return redirect("chat_channel", pid, channel_id)
