"""``screenact doctor`` on this machine (which has everything a sandbox needs), on a PATH without Xvfb, and
against a live stub model server next to one that is not there."""

from __future__ import annotations

import os
from pathlib import Path

from agent.cli import main as cli
from tests.stub_openai import StubOpenAI


def test_this_machine_has_what_a_sandbox_needs(capsys):
    assert cli(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "all is well" in out
    for name in ("bubblewrap", "Xvfb", "openbox", "CJK fonts", "Tk", "OCR models"):
        assert any(line.startswith("ok") and name in line for line in out.splitlines()), (name, out)


def test_a_path_without_xvfb_exits_1_naming_the_package(tmp_path, monkeypatch, capsys):
    """Every program of PATH but Xvfb, linked into one folder: the doctor names Xvfb and its Debian package."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        for exe in Path(folder).glob("*") if Path(folder).is_dir() else ():
            if exe.name != "Xvfb" and not (bin_dir / exe.name).exists():
                (bin_dir / exe.name).symlink_to(exe)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert cli(["doctor"]) == 1
    captured = capsys.readouterr()
    assert any(line.startswith("MISSING") and "Xvfb" in line for line in captured.out.splitlines()), captured.out
    assert "1 missing: Xvfb" in captured.err and "apt-get install -y xvfb" in captured.err


def test_model_servers_one_up_one_down(capsys):
    with StubOpenAI(["unused"], models=["served-model"], max_model_len=16384) as stub:
        code = cli(["doctor", "--base-url", f"{stub.base_url},http://127.0.0.1:9/v1"])
    assert code == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert any(line.startswith("ok") and stub.base_url in line and "served-model (context length 16384)" in line
               for line in lines), captured.out
    assert any(line.startswith("MISSING") and "127.0.0.1:9" in line and "connection refused" in line
               for line in lines), captured.out
    assert "screenact serve" in captured.err


def test_bad_flags_exit_2(capsys):
    assert cli(["doctor", "--base-url", "localhost:8000/v1"]) == 2
    assert "--base-url must start with http:// or https://" in capsys.readouterr().err
