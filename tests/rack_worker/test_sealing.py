"""rack_worker.sealing: only the rack whose key sealed the parameters opens them."""
import json

import pytest
from cryptography.fernet import Fernet

from rack_worker.sealing import SealError, power_key, seal, unseal

KEY, OTHER = Fernet.generate_key().decode(), Fernet.generate_key().decode()
REQUEST = {"system_id": "abc", "action": "on", "address": "10.0.0.9",
           "params": {"power_address": "10.0.0.9", "power_pass": "hunter2"}}


def test_sealed_parameters_open_with_the_same_key_only():
    sealed = seal(REQUEST, KEY)
    assert "params" not in sealed and "hunter2" not in json.dumps(sealed)
    assert sealed["address"] == "10.0.0.9"  # routing and logs keep the BMC address
    assert unseal(sealed, KEY) == REQUEST
    with pytest.raises(SealError, match="another rack key"):
        unseal(sealed, OTHER)
    with pytest.raises(SealError, match="no power key"):
        unseal(sealed, None)


def test_a_request_never_sealed_is_used_as_it_is():
    assert unseal(REQUEST, None) == REQUEST


def test_the_key_is_read_from_the_credentials_file_each_time(tmp_path, monkeypatch):
    credentials = tmp_path / "credentials.json"
    monkeypatch.setenv("RACK_CREDENTIALS", str(credentials))
    assert power_key() is None
    credentials.write_text(json.dumps({"token": "t", "power_key": KEY}))
    assert power_key() == KEY
    credentials.write_text(json.dumps({"token": "t", "power_key": OTHER}))
    assert power_key() == OTHER
    credentials.write_text("not json")
    assert power_key() is None
