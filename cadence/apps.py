from django.apps import AppConfig


class CadenceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "cadence"
    verbose_name = "Health, reviews and reminders"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        # Registers the reminder e-mails and the digest with the outbox.
        from alignment import changes
        from alignment.models import Partnership

        from . import attention, emails, tasks  # noqa: F401

        # Every change recorded in a plan recomputes its stored attention numbers after the commit.
        if attention.changed not in changes.change_listeners:
            changes.change_listeners.append(attention.changed)
        # What a committing request leaves of it is stored by a worker.
        attention.hand_off = tasks.store_attention_later
        # Every partnership has its row from its creation on (zeros until it is stored).
        post_save.connect(attention.partnership_created, sender=Partnership, dispatch_uid="attention-row")
