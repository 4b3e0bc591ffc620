"""Project setup pages (the wizard)."""

urlpatterns: list = []
