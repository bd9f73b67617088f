"""Rack heartbeats stay fast while 500 machines commission at once (issue 17): the rack API on
its own listener does not queue behind the metadata burst on the main one.

bench/commission_bench.py's run, end to end: gunicorn (4 sync workers), the rack listener, a
region worker and beat, rackd with its rack worker, and 500 simulated machines that boot when
the rack powers them on and play every built-in script over the metadata API (about 20,000
requests). A heartbeat goes through the rack's URL every 0.5 s from the first commission request
until every machine is Ready and off again.
"""
import uuid

import pytest

from bench import commission_bench
from tests.processes import free_tcp_port, process_env


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_heartbeat_p99_under_a_second_while_500_machines_commission(tmp_path):
    options = commission_bench.Options(
        machines=500, timeout=600, port=free_tcp_port(),
        rack=f"burst-rack-{uuid.uuid4().hex[:8]}")

    run = commission_bench.run_benchmark(options, process_env(), tmp_path)

    text = commission_bench.report(run)
    print("\n" + text)
    assert (run.ready, run.error_count) == (500, 0), text
    latencies = run.heartbeat_latencies
    # One every 0.5 s through a burst of a minute or more (none failed: error_count).
    assert len(latencies) >= 60, text
    assert commission_bench.percentile(latencies, 99) < 1.0, text
