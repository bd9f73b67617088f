"""Machine tokens: one active per machine, revoked at the job's end, checked per call."""
import pytest

from nodes.models import MachineToken
from nodes.services.tokens import (
    TokenInvalid,
    token_active,
    token_authenticate,
    token_issue,
    token_revoke,
)
from tests.factories import MachineFactory, StaticIPAddressFactory, machine_lease

pytestmark = pytest.mark.django_db


def test_issue_revokes_the_previous_token():
    machine = MachineFactory()
    first = token_issue(machine, "commissioning")
    second = token_issue(machine, "testing")
    first.refresh_from_db()
    assert first.revoked is not None and second.revoked is None
    assert token_active(machine) == second
    address = machine_lease(machine)
    with pytest.raises(TokenInvalid):
        token_authenticate(machine.system_id, first.key, address)
    assert token_authenticate(machine.system_id, second.key, address) == second


def test_the_key_is_derived_not_stored():
    token = token_issue(MachineFactory(), "commissioning")
    row = MachineToken.objects.values().get(pk=token.pk)
    assert token.key not in {str(value) for value in row.values()}
    assert len(token.key) == 40


def test_revoke_ends_every_active_token():
    machine = MachineFactory()
    token = token_issue(machine, "commissioning")
    assert token_revoke(machine) == 1
    assert token_active(machine) is None
    assert token_revoke(machine) == 0
    with pytest.raises(TokenInvalid):
        token_authenticate(machine.system_id, token.key, machine_lease(machine))


@pytest.mark.parametrize("case", ["other machine", "unknown system id", "wrong key", "empty"])
def test_authenticate_refuses(case):
    machine, other = MachineFactory(), MachineFactory()
    token, other_token = token_issue(machine, "commissioning"), token_issue(other, "testing")
    system_id, key = {
        "other machine": (machine.system_id, other_token.key),
        "unknown system id": ("nosuch", token.key),
        "wrong key": (machine.system_id, "0" * 40),
        "empty": (machine.system_id, ""),
    }[case]
    with pytest.raises(TokenInvalid):
        token_authenticate(system_id, key, machine_lease(machine))


def test_a_token_works_only_from_the_machines_own_addresses(settings):
    """A token read from a boot config (anyone can fetch one) is useless from elsewhere."""
    machine, other = MachineFactory(), MachineFactory()
    token = token_issue(machine, "commissioning")
    leased, others = machine_lease(machine), machine_lease(other)
    assert token_authenticate(machine.system_id, token.key, leased) == token
    for address in (others, "10.9.9.9", "", "not an address"):
        with pytest.raises(TokenInvalid, match="not valid from"):
            token_authenticate(machine.system_id, token.key, address)
    assigned = StaticIPAddressFactory(interface=machine.interfaces.get()).ip  # a deployed OS
    assert token_authenticate(machine.system_id, token.key, assigned) == token
    settings.METADATA_TOKEN_SOURCES = "any"  # machines behind NAT: the operator's choice
    assert token_authenticate(machine.system_id, token.key, "10.9.9.9") == token
