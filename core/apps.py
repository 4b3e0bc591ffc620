from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Users, API tokens, worker heartbeats and health: what every other app stands on."""

    name = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core.api import schema  # noqa: F401  (registers the OpenAPI extension for our token auth)
