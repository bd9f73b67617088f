"""rack_worker.client: which rack a power request goes to, what the broker and the log carry."""
from cryptography.fernet import Fernet

from rack_worker import client
from rack_worker.client import RackInfo, choose_rack, enqueue_power, redacted
from rack_worker.sealing import unseal


def test_rack_choice_prefers_the_bmc_subnet():
    near, far = RackInfo("near", ("10.5.0.0/24",)), RackInfo("far", ("192.0.2.0/24",))
    assert choose_rack("10.5.0.21", [far, near]) == near and near.queue == "rack.near"
    assert choose_rack("bmc.example", [far]) == far
    assert choose_rack("10.5.0.21", []) is None


def test_redacted_hides_only_declared_secrets():
    request = {"params": {"power_pass": "x", "power_user": "u"}, "secret_fields": ["power_pass"]}
    assert redacted(request)["params"] == {"power_pass": "***", "power_user": "u"}


def test_the_message_carries_parameters_sealed_for_the_chosen_rack(monkeypatch):
    sent = {}
    monkeypatch.setattr(client.current_app, "send_task",
                        lambda name, **kwargs: sent.update(name=name, **kwargs))
    rack = RackInfo("r1", power_key=Fernet.generate_key().decode())
    request = {"system_id": "abc", "params": {"power_pass": "hunter2"},
               "secret_fields": ["power_pass"]}
    enqueue_power(request, rack)
    message = sent["args"][0]
    assert sent["queue"] == "rack.r1" and "params" not in message
    assert "hunter2" not in repr(message) and "hunter2" not in sent["argsrepr"]
    assert unseal(message, rack.power_key)["params"] == {"power_pass": "hunter2"}


def test_a_power_request_expires_after_power_request_expires_seconds(monkeypatch):
    sent = {}
    monkeypatch.setattr(client.current_app, "send_task",
                        lambda name, **kwargs: sent.update(name=name, **kwargs))
    rack = RackInfo("r1", power_key=Fernet.generate_key().decode())
    monkeypatch.delenv("POWER_REQUEST_EXPIRES", raising=False)
    enqueue_power({"system_id": "abc", "params": {}}, rack)
    assert sent["expires"] == 600.0
    monkeypatch.setenv("POWER_REQUEST_EXPIRES", "42")
    enqueue_power({"system_id": "abc", "params": {}}, rack)
    assert sent["expires"] == 42.0
