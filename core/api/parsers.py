"""Request parsers that refuse hostile bodies before any view sees them: JSON nested too deep is measured
before it is parsed (Python's parser recurses, so 100,000 brackets would raise RecursionError), and control
characters in any string, JSON or form field, are refused with the field's name (PostgreSQL refuses NUL)."""

import io

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

from core.validation import control_character_problem, json_depth_exceeds, json_text_problems


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        max_depth = settings.API_JSON_MAX_DEPTH
        if json_depth_exceeds(raw, max_depth):
            raise ParseError(f"JSON parse error - nested deeper than {max_depth} levels, the limit.")
        data = super().parse(io.BytesIO(raw), media_type, parser_context)
        problems = json_text_problems(data)
        if problems:
            raise ValidationError({path: [problem] for path, problem in problems.items()})
        return data


def form_text_problems(data) -> dict[str, list[str]]:
    return {
        key: [problem]
        for key, values in data.lists()
        for value in values
        if isinstance(value, str) and (problem := control_character_problem(value) or control_character_problem(key))
    }


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if problems := form_text_problems(data):
            raise ValidationError(problems)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        if problems := form_text_problems(result.data):
            raise ValidationError(problems)
        return result
