"""Schemathesis hooks for tests/maasproject/test_schemathesis.py (loaded with SCHEMATHESIS_HOOKS).

Negative cases go as JSON only. A form (multipart or urlencoded) cannot carry a wrong type: every
value is a string, a list is repeated fields, and an empty value means "not given" (DRF's HTML
form rule), so a "negative" form such as `architecture=` or `tags={}` is a valid request that
the schema cannot tell apart. Positive cases in every media type still run, with every check.
"""
import schemathesis
from schemathesis import GenerationMode

JSON = "application/json"


@schemathesis.hook
def filter_case(context, case) -> bool:
    if case.meta is None or case.meta.generation.mode is not GenerationMode.NEGATIVE:
        return True
    return (case.media_type or JSON) == JSON
