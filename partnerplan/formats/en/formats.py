"""English ("en") writes dates and numbers the British way, as Partnerplan always has."""

from django.conf.locale.en_GB.formats import *  # type: ignore[import-untyped]  # noqa: F403
