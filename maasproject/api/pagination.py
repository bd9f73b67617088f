"""API paging: limit/offset with a bounded page size; a limit or offset that is no count: 400."""
from rest_framework import pagination
from rest_framework.exceptions import ValidationError


def _count(request, name: str, *, minimum: int) -> int | None:
    """The query parameter `name` as an integer >= minimum, None when absent; 400 otherwise."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) < minimum:
        raise ValidationError({name: [f"A whole number of at least {minimum}."]})
    return int(raw)


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    default_limit = 100
    max_limit = 10000

    def get_limit(self, request) -> int:
        limit = _count(request, self.limit_query_param, minimum=1)
        return self.default_limit if limit is None else min(limit, self.max_limit)

    def get_offset(self, request) -> int:
        return _count(request, self.offset_query_param, minimum=0) or 0

    def get_schema_operation_parameters(self, view) -> list[dict]:
        """DRF's limit and offset, with the minimums get_limit and get_offset enforce."""
        parameters = super().get_schema_operation_parameters(view)
        minimums = {self.limit_query_param: 1, self.offset_query_param: 0}
        for parameter in parameters:
            parameter["schema"]["minimum"] = minimums[parameter["name"]]
        return parameters
