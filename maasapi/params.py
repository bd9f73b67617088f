"""Request parameters as MAAS clients send them: the query string, then the body.

- python-libmaas and its CLI: multipart bodies whose parts may be base64
  Content-Transfer-Encoded (Django's parser decodes them), even for an empty POST;
- gomaasapi: `application/x-www-form-urlencoded`; an empty body for DELETE.
Repeated keys are lists; booleans take MAAS's spellings; unknown names are ignored, as MAAS
ignores them.
"""
import base64
import binascii
import io
import json
import re

from django.http import QueryDict
from django.http.multipartparser import MultiPartParser, MultiPartParserError

from maasapi.errors import BadRequest

TRUE = frozenset({"true", "1", "yes", "on", "y", "t"})
FALSE = frozenset({"false", "0", "no", "off", "n", "f", ""})


def request_params(request) -> "Params":
    """The parameters of a request: body fields over query fields (except `op`)."""
    merged = request.GET.copy()
    body = _body(request)
    for key in body:
        merged.setlist(key, body.getlist(key))
    return Params(merged)


def _body(request) -> QueryDict:
    if request.method == "POST":
        return request.POST  # Django parses multipart and urlencoded POST bodies itself
    content_type = request.META.get("CONTENT_TYPE", "")
    if not request.body:
        return QueryDict()
    if content_type.startswith("multipart/form-data"):
        try:
            fields, _files = MultiPartParser(request.META, io.BytesIO(request.body),
                                             request.upload_handlers).parse()
        except MultiPartParserError as exc:
            raise BadRequest(f"Malformed multipart body: {exc}") from exc
        return fields
    return QueryDict(request.body, encoding=request.encoding or "utf-8")


class Params:
    """Typed access to a QueryDict of parameters; BadRequest (400) names the bad one."""

    def __init__(self, data: QueryDict) -> None:
        self.data = data

    def __contains__(self, name: str) -> bool:
        return name in self.data

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self.data.get(name)
        return default if value is None else value

    def text(self, name: str, default: str = "") -> str:
        return self.get(name, default) or default

    def split_list(self, name: str) -> list[str]:
        """A list given as repeated keys or in one value separated by commas or spaces
        (MAAS's `dns_servers`)."""
        return [item for value in self.data.getlist(name) for item in re.split(r"[,\s]+", value)
                if item]

    def list(self, name: str) -> list[str]:
        """Every value of a repeated key (empty strings dropped)."""
        return [value for value in self.data.getlist(name) if value != ""]

    def boolean(self, name: str, default: bool | None = False) -> bool | None:
        value = self.data.get(name)
        if value is None:
            return default
        text = value.strip().lower()
        if text not in TRUE | FALSE:
            raise BadRequest.fields({name: [f"{value!r} is not a boolean."]})
        return text in TRUE

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.data.get(name)
        if value in (None, ""):
            return default
        try:
            return int(value) if value.strip().lstrip("-").isdigit() else int(float(value))
        except (ValueError, OverflowError):
            raise BadRequest.fields({name: [f"{value!r} is not a whole number."]}) from None

    def base64_text(self, name: str) -> str:
        """A base64 field (user_data) decoded leniently: libmaas adds a newline every 76."""
        value = self.text(name)
        if not value:
            return ""
        try:
            return base64.b64decode("".join(value.split()), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest.fields({name: ["Not base64-encoded UTF-8 text."]}) from None

    def power_parameters(self) -> dict[str, str]:
        """`power_parameters=<JSON object>` (libmaas) or `power_parameters_<name>` fields (Go)."""
        found = {key[len("power_parameters_"):]: self.data.get(key) for key in self.data
                 if key.startswith("power_parameters_") and key != "power_parameters_skip_check"}
        raw = self.data.get("power_parameters")
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                raise BadRequest.fields({"power_parameters": ["Not a JSON object."]}) from None
            if not isinstance(parsed, dict):
                raise BadRequest.fields({"power_parameters": ["Not a JSON object."]})
            found.update(parsed)
        return found
