from django.apps import AppConfig


class ApiConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        # A committed change nudges the webhooks' sweep (it needs the feed's representation, which
        # lives here); the task module needs the apps loaded.
        from alignment.changes import commit_listeners

        from .tasks import nudge_webhooks

        if nudge_webhooks not in commit_listeners:
            commit_listeners.append(nudge_webhooks)
