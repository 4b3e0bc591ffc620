"""Serializer fields for client input that both databases can store."""

from django.conf import settings
from pydantic import BaseModel
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.settings import api_settings

from core.validation import (
    DB_INT_MAX,
    DB_INT_MIN,
    json_depth_exceeds,
    json_text_problems,
    name_normalised,
    name_problem,
)


class DbIntegerField(serializers.IntegerField):
    """An integer that fits a BIGINT column (SQLite raises OverflowError beyond it)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("min_value", DB_INT_MIN)
        kwargs.setdefault("max_value", DB_INT_MAX)
        super().__init__(**kwargs)


class IdField(DbIntegerField):
    """A row id: 1 up to the largest BIGINT."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("min_value", 1)
        super().__init__(**kwargs)


class NameField(serializers.CharField):
    """A name people tell things apart by: NFC, without controls, zero-width or bidirectional-override characters."""

    def to_internal_value(self, data) -> str:
        value = name_normalised(super().to_internal_value(data))
        problem = name_problem(value)
        if problem:
            raise serializers.ValidationError(problem[0].upper() + problem[1:] + ".")
        return value


class JSONField(serializers.JSONField):
    """JSON given as text (a form field) is measured before it is parsed, like a JSON body (core.api.parsers)."""

    def to_internal_value(self, data):
        if isinstance(data, str | bytes) and (self.binary or getattr(data, "is_json_string", False)):
            max_depth = settings.API_JSON_MAX_DEPTH
            if json_depth_exceeds(data, max_depth):
                raise serializers.ValidationError(f"Nested deeper than {max_depth} levels, the limit.")
        value = super().to_internal_value(data)
        if problems := json_text_problems(value, max_problems=1):
            path, problem = next(iter(problems.items()))
            raise serializers.ValidationError(f"{path}: {problem}." if path != "non_field_errors" else problem)
        return value


class TypedJSONField(serializers.Field):
    """A JSON column shown through its pydantic schema: checked as it is read, and documented by that schema in
    the OpenAPI description (core.api.schema)."""

    def __init__(self, schema: type[BaseModel], **kwargs) -> None:
        self.schema = schema
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return self.schema.model_validate(value).model_dump(mode="json")


def validated(serializer: serializers.Serializer, data) -> dict:
    """`data` checked by a serializer built once and reused (`run_validation` keeps no state), with errors in
    the shape `is_valid(raise_exception=True)` gives them: a null body as `non_field_errors`."""
    try:
        return serializer.run_validation(data)
    except serializers.ValidationError as error:
        if isinstance(error.detail, list):  # a null body: is_valid() words and places it this way
            null = len(error.detail) == 1 and getattr(error.detail[0], "code", None) == "null"
            detail = [ErrorDetail("No data provided", code="null")] if null else error.detail
            raise serializers.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: detail}) from None
        raise
