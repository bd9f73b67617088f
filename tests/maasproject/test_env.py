"""maasproject.env: secrets generated once, also when several processes start together."""
import stat
import subprocess
import sys

from tests.processes import PROJECT_DIR, process_env

READ = "from maasproject.env import generated_secret; print(generated_secret('race_key'))"


def test_processes_starting_together_share_one_generated_secret(tmp_path):
    env = process_env(VAR_DIR=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-c", READ], cwd=PROJECT_DIR, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(8)]
    results = [proc.communicate(timeout=60) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), [err for _, err in results]
    values = {out.strip() for out, _ in results}
    assert len(values) == 1 and len(values.pop()) >= 32
    secret = tmp_path / "race_key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["race_key"]  # no temp file left
