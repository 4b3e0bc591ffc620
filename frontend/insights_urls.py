"""Dashboard and strategy pages."""

urlpatterns: list = []
