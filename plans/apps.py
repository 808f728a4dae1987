from django.apps import AppConfig


class PlansConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "plans"
    verbose_name = "The joint plan in the browser"

    def ready(self) -> None:
        # Registers the webhook e-mail with the outbox in every process.
        from anymail.signals import inbound

        from . import emails  # noqa: F401
        from .reply_inbound import inbound_received

        # Replies by e-mail from hosted providers (plans.reply_inbound) become comments.
        inbound.connect(inbound_received, dispatch_uid="plans.reply_inbound")
        from .webhook_http import allowed_networks

        allowed_networks()  # a mistyped WEBHOOK_ALLOW_PRIVATE_TARGETS stops the start, not a save
