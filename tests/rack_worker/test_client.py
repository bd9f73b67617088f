"""rack_worker.client: which rack queue a power request goes to, and what its log shows."""
from rack_worker.client import RackInfo, choose_rack_queue, redacted


def test_rack_choice_prefers_the_bmc_subnet():
    near, far = RackInfo("near", ("10.5.0.0/24",)), RackInfo("far", ("192.0.2.0/24",))
    assert choose_rack_queue("10.5.0.21", [far, near]) == "rack.near"
    assert choose_rack_queue("bmc.example", [far]) == "rack.far"
    assert choose_rack_queue("10.5.0.21", []) is None


def test_redacted_hides_only_declared_secrets():
    request = {"params": {"power_pass": "x", "power_user": "u"}, "secret_fields": ["power_pass"]}
    assert redacted(request)["params"] == {"power_pass": "***", "power_user": "u"}
