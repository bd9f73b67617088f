"""Helpers for metadata API tests: a machine with a running job and a client with its token."""
from rest_framework.test import APIClient

from nodes.choices import NodeStatus, ResultType
from nodes.services.tokens import token_issue
from tests.factories import (
    MachineFactory,
    ScriptFactory,
    ScriptResultFactory,
    ScriptSetFactory,
    machine_lease,
)

API = "/api/v1/metadata/"


def running_job(machine=None, *, names=("01-a", "02-b"), result_type=ResultType.COMMISSIONING,
                options=None, token=True):
    """(machine, script set, results, token key): a Commissioning (or Testing) machine's job."""
    if machine is None:
        status = (NodeStatus.COMMISSIONING if result_type == ResultType.COMMISSIONING
                  else NodeStatus.TESTING)
        machine = MachineFactory(status=status, previous_status=NodeStatus.NEW
                                 if status == NodeStatus.COMMISSIONING else NodeStatus.READY)
    script_set = ScriptSetFactory(machine=machine, result_type=result_type,
                                  options=options or {})
    results = [
        ScriptResultFactory(script_set=script_set, script=ScriptFactory(
            name=name, script_type=("testing" if result_type == ResultType.TESTING
                                    else "commissioning"),
            body=f"#!/bin/sh\necho {name}\n", timeout=5))
        for name in names
    ]
    key = token_issue(machine, result_type).key if token else ""
    return machine, script_set, results, key


def machine_client(machine, key: str, **defaults) -> APIClient:
    """An API client that authenticates as the machine's ephemeral environment, calling from
    an address leased to it."""
    defaults.setdefault("REMOTE_ADDR", machine_lease(machine))
    client = APIClient(**defaults)
    client.credentials(HTTP_AUTHORIZATION=f"Machine {machine.system_id}:{key}")
    return client
