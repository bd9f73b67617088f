"""Handlers as MAAS defines them: a resource path, CRUD methods, and named operations (`op=`).

A handler class declares `path` (with `{param}` parts), its MAAS `name` and the CRUD methods it
has (read, create, update, delete); other operations are methods marked with @operation. The
same declarations route requests (maasapi.urls), dispatch them (maasapi.views) and describe the
API (maasapi.describe), so the three cannot disagree.
"""
import inspect
from collections.abc import Callable
from dataclasses import dataclass

CRUD = {"GET": "read", "POST": "create", "PUT": "update", "DELETE": "delete"}
PREFIX = "/MAAS/api/2.0/"


@dataclass(frozen=True)
class Action:
    """One thing a handler does: a CRUD method (op None) or a named operation."""

    name: str
    method: str
    op: str | None
    function: Callable

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.function) or ""


def operation(*, idempotent: bool, name: str | None = None) -> Callable:
    """Mark a handler method as the operation `op=<name>`: GET when idempotent, else POST."""

    def mark(function: Callable) -> Callable:
        function.maas_op = (name or function.__name__, "GET" if idempotent else "POST")
        return function

    return mark


class Handler:
    """A MAAS API resource. Methods take (request, params, **path parameters)."""

    name = ""  # MAAS's handler name, e.g. "MachinesHandler": clients bind classes by it
    path = ""  # under /MAAS/api/2.0/, e.g. "machines/{system_id}/"
    anonymous = False  # True: no authentication (version/, describe/)

    @classmethod
    def actions(cls) -> list[Action]:
        """Every CRUD method the class defines, then its operations, by name."""
        found = [Action(crud, method, None, getattr(cls, crud))
                 for method, crud in CRUD.items() if callable(getattr(cls, crud, None))]
        ops = []
        for attribute in dir(cls):
            function = getattr(cls, attribute)
            if callable(function) and hasattr(function, "maas_op"):
                op, method = function.maas_op
                ops.append(Action(op, method, op, function))
        return found + sorted(ops, key=lambda action: action.name)

    @classmethod
    def find(cls, method: str, op: str | None) -> Action | None:
        """The action a request names: CRUD when op is None, else the op with this method."""
        for action in cls.actions():
            if action.method == method and action.op == op:
                return action
        return None

    @classmethod
    def params(cls) -> list[str]:
        """The names of the path's {parameters}, in order."""
        return [part[1:-1] for part in cls.path.split("/") if part.startswith("{")]

    @classmethod
    def uri(cls, **values: object) -> str:
        """The resource's absolute path (`resource_uri`) with `values` filled in."""
        return PREFIX + cls.path.format(**{k: str(v) for k, v in values.items()})
