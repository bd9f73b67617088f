"""The OpenAPI schema class: every operation documents the error answers it can give."""
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from maasproject.validators import validate_name, validate_text

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
WITH_BODY = {"POST", "PUT", "PATCH"}
# What validate_name and validate_text accept, as OpenAPI patterns (ECMA regular expressions),
# so that clients and generated tests know that control characters are refused.
NAME_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
TEXT_PATTERN = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$"


class ErrorSerializer(serializers.Serializer):
    """An error answer: {"detail": message}, or the messages of each invalid field by name."""

    detail = serializers.CharField(required=False, help_text="What went wrong, for a person.")


# Why each error status can answer, and which operations it applies to.
ERRORS = {
    "400": "Invalid input: the body's or a parameter's errors by field name, or `detail`.",
    "401": "No credentials, or credentials that are not valid.",
    "403": "Valid credentials that may not do this.",
    "404": "No object with this identifier (or not one the caller may see).",
    "409": "The object's current state does not allow this (a status, a reference to it).",
    "413": "The request body is larger than the region accepts.",
    "503": "A backend (the database, the message broker) is unavailable; retry after "
           "Retry-After seconds.",
}


class ErrorDocumentingAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, plus the error statuses each operation can answer.

    The middleware and the exception handler give every API view these answers (control
    characters in a query are a 400 anywhere, a backend down a 503 anywhere), so each
    operation documents them; one a view documents itself is left as it is.
    """

    def _insert_field_validators(self, field, schema):
        super()._insert_field_validators(field, schema)
        # After drf-spectacular's own constraints: the patterns match "" as well, so a blank
        # field needs no oneOf with an empty string (whose branches would both match "").
        target = schema["oneOf"][0] if "oneOf" in schema else schema
        if target.get("type") == "string" and not {"pattern", "enum", "format"} & set(target):
            if validate_name in field.validators:
                target["pattern"] = NAME_PATTERN
            elif validate_text in field.validators:
                target["pattern"] = TEXT_PATTERN

    def _get_parameters(self):
        parameters = super()._get_parameters()
        for parameter in parameters:
            if parameter["in"] != "query":
                continue
            # Every query parameter given empty is as if it were not given (django-filter's
            # rule, and the pagination's and the views' own).
            parameter["allowEmptyValue"] = True
            # ApiInputMiddleware refuses control characters in any query parameter.
            schema = parameter.get("schema", {})
            if schema.get("type") == "string" and not {"pattern", "enum", "format"} & set(schema):
                schema["pattern"] = NAME_PATTERN
        return parameters

    def error_statuses(self) -> list[str]:
        """The error statuses of this operation: by its method, path and authentication."""
        statuses = ["400", "401", "403", "503"]
        if "{" in self.path:
            statuses.append("404")
        if self.method in WRITES:
            statuses.append("409")
        if self.method in WITH_BODY:
            statuses.append("413")
        return sorted(statuses)

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in self.error_statuses():
            if code not in responses:
                response = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                responses[code] = {**response, "description": ERRORS[code]}
        return responses
