from django.apps import AppConfig


class CadenceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "cadence"
    verbose_name = "Health, reviews and reminders"

    def ready(self) -> None:
        # Registers the reminder e-mails and the digest with the outbox.
        from . import emails  # noqa: F401
