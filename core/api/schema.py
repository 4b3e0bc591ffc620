"""OpenAPI generation: our token authentication, unique component names for per-view input serializers, and
JSON columns documented by their pydantic schemas."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


class AutoSchema(SpectacularAutoSchema):
    def get_serializer_name(self, serializer, direction) -> str:
        name = super().get_serializer_name(serializer, direction)
        owner, _, nested = type(serializer).__qualname__.rpartition(".")
        if owner and nested == "InputSerializer":  # `FooApi.InputSerializer` -> "FooInput"
            return owner.removesuffix("Api") + "Input"
        return name


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "core.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A personal API token from /api/v1/tokens/."}


class TypedJSONFieldScheme(OpenApiSerializerFieldExtension):
    """A TypedJSONField is documented by its pydantic schema, as a component of its own."""

    target_class = "core.api.fields.TypedJSONField"

    def map_serializer_field(self, auto_schema, direction):
        return auto_schema.resolve_serializer(self.target.schema, direction).ref
