from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.core.signals import request_finished


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = "Accounts and organisations"

    def ready(self) -> None:
        # Registers the sign-up e-mails with the outbox; the sessions module needs the models loaded.
        from . import emails  # noqa: F401
        from .middleware import language_finished
        from .sessions import signed_in_receiver, signed_out_receiver

        # Every sign-in (sign-in page, second factor, confirmed sign-up, accepted invitation) is listed
        # in the person's sessions: Django's signals are the one place all of them pass.
        user_logged_in.connect(signed_in_receiver, dispatch_uid="accounts.sessions.signed_in")
        user_logged_out.connect(signed_out_receiver, dispatch_uid="accounts.sessions.signed_out")
        request_finished.connect(language_finished, dispatch_uid="accounts.middleware.language_finished")
