from django.apps import AppConfig


class AlignmentConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "alignment"
    verbose_name = "Partnerships and long-term plan"

    def ready(self) -> None:
        # Registers the invitation e-mail with the outbox and its task with Celery.
        from . import emails  # noqa: F401
