from django.apps import AppConfig


class PlansConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "plans"
    verbose_name = "The joint plan in the browser"

    def ready(self) -> None:
        # Registers the webhook e-mail with the outbox in every process.
        from . import emails  # noqa: F401
        from .webhook_http import allowed_networks

        allowed_networks()  # a mistyped WEBHOOK_ALLOW_PRIVATE_TARGETS stops the start, not a save
