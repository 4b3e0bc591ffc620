"""Pagination with an upper bound: `?limit=` above API_MAX_PAGE_SIZE is cut to it, an offset must fit the
databases' integers (SQLite raises OverflowError past 2**63)."""

from django.conf import settings
from rest_framework import pagination
from rest_framework.exceptions import ValidationError

from core.validation import DB_INT_MAX

MAX_OFFSET = DB_INT_MAX // 2


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    @property
    def max_limit(self) -> int:
        return settings.API_MAX_PAGE_SIZE

    def get_offset(self, request) -> int:
        offset = super().get_offset(request)
        if offset > MAX_OFFSET:  # offset + limit must still fit
            raise ValidationError({self.offset_query_param: [f"Ensure this value is at most {MAX_OFFSET}."]})
        return offset
