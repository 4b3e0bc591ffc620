from django.apps import AppConfig


class FrontendConfig(AppConfig):
    """Server-rendered pages; display only, the rules live in services and selectors."""

    name = "frontend"
