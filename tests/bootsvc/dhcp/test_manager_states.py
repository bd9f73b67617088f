"""DHCP's reported state when its port is taken, and the retry once it is free (in a namespace)."""
import json
import sys
import textwrap

from tests.bootsvc.dhcp.conftest import PROJECT_DIR, rack_config

# Runs inside the server namespace: a squatter holds UDP 67 (no SO_REUSEADDR, so the DHCP
# server's bind fails), then lets it go; each state DhcpManager reports is printed.
SCRIPT = textwrap.dedent("""
    import asyncio, json, socket, sys
    from pathlib import Path
    from bootsvc.health import ServiceStates, read_service_states, services_path
    from bootsvc.service import DhcpManager, EventSink

    state_dir, config = Path(sys.argv[1]), json.loads(sys.argv[2])

    async def main():
        states = ServiceStates(services_path(state_dir))
        manager = DhcpManager(state_dir / "dhcp", lambda leases: None,
                              EventSink(lambda batch: None), states)
        squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        squatter.bind(("0.0.0.0", 67))
        await manager.apply(config)
        print(json.dumps(states.get("dhcp")))
        await manager.retry_failed()  # too soon: no retry, the port is still taken anyway
        squatter.close()
        manager.retry_at = 0  # the retry interval has passed
        await manager.retry_failed()
        print(json.dumps(states.get("dhcp")), sorted(manager.servers), flush=True)
        await manager.stop()

    asyncio.run(main())
""")


def test_dhcp_that_cannot_bind_is_failed_with_why_and_serves_once_the_port_is_free(lab, tmp_path):
    result = lab.run(lab.srv, [sys.executable, "-c", SCRIPT, str(tmp_path),
                               json.dumps(rack_config())], cwd=PROJECT_DIR)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert json.loads(first) == ["failed", "not serving s0 (10.0.0.2): Address already in use"]
    assert second == '["running", ""] [\'s0\']'
