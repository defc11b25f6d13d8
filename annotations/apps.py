from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_save


class AnnotationsConfig(AppConfig):
    name = "annotations"
    verbose_name = "Annotations"

    def ready(self) -> None:
        from config.accounts import end_sessions_of_deactivated_user

        post_save.connect(
            end_sessions_of_deactivated_user,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="end_sessions_of_deactivated_user",
        )
