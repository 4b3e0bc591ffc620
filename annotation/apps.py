from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    """Projects, memberships, label schemas, items and annotations."""

    name = "annotation"
    default_auto_field = "django.db.models.BigAutoField"
