"""describe/: the API described from the handlers themselves, as python-libmaas and the maas CLI
read it to build their clients (handler names, params, actions with their docs)."""
import hashlib
import json

from maasapi.framework import PREFIX, Handler


def handler_description(handler: type[Handler], base: str) -> dict:
    """One handler: its name, doc, path, absolute uri, path params and actions."""
    path = PREFIX + handler.path
    return {
        "name": handler.name,
        "doc": (handler.__doc__ or "").strip(),
        "path": path,
        "uri": base + path,
        "params": handler.params(),
        "actions": [{"name": action.name, "method": action.method, "op": action.op,
                     "restful": action.op is None, "doc": action.doc}
                    for action in handler.actions()],
    }


def describe(handlers: list[type[Handler]], base: str) -> dict:
    """The whole description; `base` is scheme://host of the request (libmaas calls uri as is)."""
    resources = []
    for handler in handlers:
        described = handler_description(handler, base)
        resources.append({"name": handler.name,
                          "anon": described if handler.anonymous else None,
                          "auth": None if handler.anonymous else described})
    anon = [r["anon"] for r in resources if r["anon"]]
    auth = [r["auth"] for r in resources if r["auth"]]
    digest = hashlib.sha1(json.dumps(resources, sort_keys=True).encode()).hexdigest()
    return {"doc": "MAAS API", "hash": digest, "resources": resources, "handlers": anon + auth}
