from django.apps import AppConfig


class CadenceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "cadence"
    verbose_name = "Health, reviews and reminders"

    def ready(self) -> None:
        # Registers the reminder e-mails and the digest with the outbox.
        from alignment import changes

        from . import attention, emails, tasks  # noqa: F401

        # Every change recorded in a plan recomputes its stored attention numbers after the commit.
        if attention.changed not in changes.change_listeners:
            changes.change_listeners.append(attention.changed)
        # What a committing request leaves of it is stored by a worker.
        attention.hand_off = tasks.store_attention_later
