from django.apps import AppConfig


class GoalsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "goals"
    verbose_name = "Short-term goals"

    def ready(self) -> None:
        # Registers the negotiation e-mails with the outbox and their tasks with Celery.
        from . import emails  # noqa: F401
