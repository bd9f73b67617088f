"""lab/ha/haproxy.cfg rendered by lab.ha.haproxy: what the README promises is in it, and HAProxy
itself accepts it (`haproxy -c`)."""
import subprocess

import pytest

from lab.ha.haproxy import main, render
from lab.ha.procs import binary
from tests.processes import skip_or_fail


def test_rendered_config_checks_health_and_queues_beyond_each_regions_workers(capsys):
    main(["--listen", "0.0.0.0:5240", "--region", "10.0.0.11:5240", "--region",
          "10.0.0.12:5240", "--server-maxconn", "6"])
    text = capsys.readouterr().out
    assert "    bind 0.0.0.0:5240\n" in text
    assert "    server region1 10.0.0.11:5240 check\n" in text
    assert "    server region2 10.0.0.12:5240 check\n" in text
    assert "option httpchk GET /healthz" in text and "timeout queue 120s" in text
    default_server = next(line for line in text.splitlines() if "default-server" in line)
    assert " maxconn 6 " in default_server and "fall 2 rise 1" in default_server
    assert "send-proxy" in default_server and "on-error mark-down" in default_server


@pytest.mark.parametrize("regions, maxconn", [([], 4), (["10.0.0.11:5240"], 0)])
def test_no_region_or_no_capacity_is_refused(regions, maxconn):
    with pytest.raises(ValueError):
        render("0.0.0.0:5240", regions, server_maxconn=maxconn)


def test_haproxy_accepts_the_rendered_config(tmp_path):
    haproxy = binary("haproxy", "apt-get install haproxy", skip_or_fail)
    config = tmp_path / "haproxy.cfg"
    config.write_text(render("127.0.0.1:5240", ["127.0.0.1:5241", "127.0.0.1:5242"],
                             str(tmp_path / "stats.sock"), server_maxconn=2))
    checked = subprocess.run([haproxy, "-c", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
