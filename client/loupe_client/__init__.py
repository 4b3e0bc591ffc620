"""A small, typed client for Loupe's REST API.

>>> from loupe_client import Loupe
>>> loupe = Loupe("https://loupe.example.com", token="lp_...")
>>> project = loupe.create_project({"name": "Wine", "data_kind": "tabular", "labels": [{"name": "red"}]})
"""

from loupe_client.client import ENDPOINTS, Loupe, LoupeError

__all__ = ["ENDPOINTS", "Loupe", "LoupeError"]
