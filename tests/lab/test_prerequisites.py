"""lab.prerequisites: `make demo` refuses up front, naming every missing package."""
import os

from lab import demo, prerequisites


def test_every_missing_package_is_named_with_the_command_that_installs_it():
    needed = {"present": "sh", "tool-pkg": "no-such-command-xyz", "file-pkg": "/no/such/file"}
    assert prerequisites.missing_packages(needed) == ["tool-pkg", "file-pkg"]
    reason = prerequisites.unmet_reason(needed)
    assert "missing packages: tool-pkg file-pkg" in reason
    assert "apt-get install -y tool-pkg file-pkg" in reason


def test_the_demo_refuses_before_starting_anything(monkeypatch, capsys):
    monkeypatch.setattr(prerequisites, "NEEDED", {"pxelinux": "/no/such/lpxelinux.0"})
    monkeypatch.setattr(demo, "make_lab", lambda args: (_ for _ in ()).throw(AssertionError))
    assert demo.main(["--vms", "1"]) == 2
    err = capsys.readouterr().err
    assert "pxelinux" in err and "apt-get install -y pxelinux" in err
    if os.geteuid() != 0:
        assert "needs root" in err
