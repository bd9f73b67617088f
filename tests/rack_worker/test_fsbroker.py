"""The filesystem broker keeps its messages private: folders 0700, files 0600."""
import json
import os
import stat
from pathlib import Path

import pytest
from celery import Celery

from rack_worker.env import FILESYSTEM_BROKER, broker_transport, broker_transport_options
from tests.processes import start, stop, wait_until


def modes(folder: Path) -> dict[str, int]:
    """{relative path: permission bits} of the folder and everything under it."""
    found = {".": stat.S_IMODE(folder.stat().st_mode)}
    for path in folder.rglob("*"):
        found[str(path.relative_to(folder))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def assert_private(folder: Path) -> None:
    found = modes(folder)
    files = {name for name in found if (folder / name).is_file()}
    assert files, "no broker file was written"
    wrong = {name: oct(mode) for name, mode in found.items()
             if mode != (0o600 if name in files else 0o700)}
    assert not wrong, f"not private: {wrong}"


@pytest.fixture
def open_umask():
    """The usual umask 022: what kombu alone would write 0644 files with."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def filesystem_app(folder: Path, monkeypatch) -> Celery:
    monkeypatch.setenv("CELERY_BROKER_DIR", str(folder))
    app = Celery("fsbroker-test", set_as_current=False, fixups=[])
    app.conf.update(broker_url=FILESYSTEM_BROKER,
                    broker_transport=broker_transport(FILESYSTEM_BROKER),
                    broker_transport_options=broker_transport_options(FILESYSTEM_BROKER))
    return app


def test_a_task_sent_leaves_only_0600_files_in_0700_folders(tmp_path, monkeypatch, open_umask):
    folder = tmp_path / "broker"
    app = filesystem_app(folder, monkeypatch)
    app.send_task("rack_worker.tasks.nothing", kwargs={"power_pass": "secret"},
                  queue="rack.private")
    messages = list((folder / "in").iterdir())
    assert len(messages) == 1 and b"secret" in messages[0].read_bytes()
    assert list((folder / "control").iterdir()), "no exchange table written"
    assert_private(folder)
    assert os.umask(0o022) == 0o022, "the process umask was left changed"


def test_folders_and_files_an_older_run_left_open_are_tightened(tmp_path, monkeypatch):
    folder = tmp_path / "broker"
    for sub in ("in", "processed", "control"):
        (folder / sub).mkdir(parents=True)
        (folder / sub).chmod(0o755)
    folder.chmod(0o755)
    (folder / "in" / "old.msg").write_text("{}")
    (folder / "in" / "old.msg").chmod(0o644)
    monkeypatch.setenv("CELERY_BROKER_DIR", str(folder))
    broker_transport_options("filesystem://")
    assert_private(folder)


def test_redis_keeps_kombus_own_transport():
    assert broker_transport("redis://127.0.0.1:6379/0") is None
    assert "data_folder_in" not in broker_transport_options("redis://127.0.0.1:6379/0")


@pytest.mark.integration
def test_a_rack_worker_answers_over_private_files(tmp_path, monkeypatch, open_umask):
    """A real rack worker and this process exchange a ping: every file either wrote is 0600."""
    folder = tmp_path / "broker"
    app = filesystem_app(folder, monkeypatch)
    log = tmp_path / "rack.log"
    worker = start(["-m", "rack_worker", "--name", "private", "--pool", "solo",
                    "--concurrency", "1"], log, CELERY_BROKER_URL=FILESYSTEM_BROKER,
                   CELERY_BROKER_DIR=str(folder), VAR_DIR=str(tmp_path / "var"))
    try:
        def answered():
            assert worker.poll() is None, log.read_text()
            return app.control.ping(destination=[f"private@{os.uname().nodename}"], timeout=1)
        wait_until(answered, 60, log.read_text)
    finally:
        stop(worker)
    assert_private(folder)


def test_a_message_appears_only_once_written_whole(tmp_path, monkeypatch):
    """No consumer can take a message file before its content is there (kombu's own race)."""
    folder = tmp_path / "broker"
    app = filesystem_app(folder, monkeypatch)
    seen = []
    real_rename = os.rename

    def rename(source, target):
        # At the moment the message takes its queue name, it is complete and parseable.
        assert not [p for p in os.listdir(folder / "in") if p.endswith(".msg")]
        assert json.loads(Path(source).read_bytes())["body"]
        seen.append(target)
        real_rename(source, target)

    monkeypatch.setattr(os, "rename", rename)
    app.send_task("rack_worker.tasks.nothing", queue="rack.whole")
    assert len(seen) == 1 and seen[0].endswith(".rack.whole.msg")
    assert os.listdir(folder / "in") == [os.path.basename(seen[0])]
