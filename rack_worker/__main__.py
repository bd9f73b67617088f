"""Run a rack worker: `python -m rack_worker --name NAME` consumes the `rack.NAME` queue."""
import argparse
import os

from rack_worker.env import var_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True, help="rack name; its queue is rack.NAME")
    parser.add_argument("--concurrency", type=int, default=8)
    # prefork: Celery enforces task time limits only there, and each process has its own
    # pyghmi session loop (IPMI logins serialise within one process).
    parser.add_argument("--pool", default="prefork", choices=["prefork", "threads", "solo"])
    parser.add_argument("--loglevel", default="INFO")
    args = parser.parse_args(argv)
    os.environ["RACK_NAME"] = args.name
    # The fake driver's machines must be shared by the worker's processes.
    os.environ.setdefault("FAKE_POWER_STATE_DIR", str(var_dir() / "fake-power"))
    from rack_worker.celery_app import app

    app.worker_main([
        "worker", "-Q", f"rack.{args.name}", "-n", f"{args.name}@%h", "--pool", args.pool,
        "-c", str(args.concurrency), "-l", args.loglevel, "--without-gossip", "--without-mingle",
    ])


if __name__ == "__main__":
    main()
