"""bench/commission_bench.py end to end with 5 machines: gunicorn, region worker, rackd with its
rack worker and the fake runner watching the fake BMCs, against this session's database and
broker (PostgreSQL and Redis when CI=true).
"""
import uuid

import pytest

from bench import commission_bench
from nodes.models import BlockDevice, Interface, Machine
from tests.processes import free_tcp_port, process_env


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_commission_bench_five_machines(tmp_path):
    options = commission_bench.Options(
        machines=5, web_workers=2, region_concurrency=1, rack_concurrency=2,
        timeout=120, port=free_tcp_port(),
        # A queue of its own: the filesystem broker of a run without Redis may hold old tasks.
        rack=f"bench-rack-{uuid.uuid4().hex[:8]}")

    run = commission_bench.run_benchmark(options, process_env(), tmp_path)

    text = commission_bench.report(run)
    assert (run.ready, run.error_count) == (5, 0), text
    assert len(run.per_machine) == 5 and run.t_all_off >= run.t_all_ready > run.t_first_request
    # Every machine booted once when the rack powered it on, and the power off ended the boot:
    # a job powered off midway is not ok (the runner sees it). Not off_seen >= job_ended: the
    # region's power off may reach the BMC before the runner thread notes the job's end.
    records = commission_bench.read_records(tmp_path / "boots.jsonl")
    assert sorted(r["action"] for r in records) == ["commission"] * 5
    assert all(r["ok"] and r["poweroff"] and r["off_seen"] >= r["decided"] for r in records)
    # The built-in scripts' outputs went through the real inventory code.
    assert set(Machine.objects.values_list("cpu_count", "memory")) == {(8, 16384)}
    assert Interface.objects.count() == 10 and BlockDevice.objects.count() == 10
    assert run.cpu["gunicorn"] > 0 and run.requests >= 5 * 10
    assert "| 5 | 5 |" in text
