"""Foreign folders cannot make screenact write or read outside them (issue 11, item 10).

The attacks run through the real CLI (``screenact report``, ``screenact ground``) on real folders.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent.episode import load_episode
from tools.safe_files import UnsafeFile, atomic_write, inside, is_plain_file, safe_read

CORPUS = Path(__file__).parent / "corpus"
SCREENACT = [sys.executable, "-m", "agent.cli"]


def png(width: int, height: int, color: tuple[int, int, int] = (201, 13, 77)) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "PNG")
    return buf.getvalue()


def screenact(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*SCREENACT, *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd or Path(__file__).parent.parent)


def episode_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "foreign-episode"
    shutil.copytree(CORPUS / "episodes" / "xterm-write", folder)
    return folder


def test_a_planted_link_at_the_report_or_its_temporary_name_is_replaced_not_followed(tmp_path):
    folder = episode_copy(tmp_path)
    victims = [tmp_path / "victim-report", tmp_path / "victim-tmp"]
    for victim in victims:
        victim.write_text("precious")
    os.symlink(victims[0], folder / "report.html")
    os.symlink(victims[1], folder / ".report.html.tmp")  # the fixed temporary name of the old writer
    done = screenact("report", str(folder))
    assert done.returncode == 0, done.stderr
    assert [v.read_text() for v in victims] == ["precious", "precious"]
    page = folder / "report.html"
    assert not page.is_symlink() and page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_an_orphan_frame_linked_to_an_outside_image_is_not_embedded(tmp_path):
    folder = episode_copy(tmp_path)
    outside = tmp_path / "secret.png"
    outside.write_bytes(png(7, 5))
    os.symlink(outside, folder / "step-0099.png")
    os.symlink(outside, folder / "step-0001.png.link")  # not a frame name: ignored
    (folder / "step-0002.png").unlink()
    os.symlink(outside, folder / "step-0002.png")  # a recorded step's frame replaced by a link
    done = screenact("report", str(folder))
    assert done.returncode == 0, done.stderr
    page = (folder / "report.html").read_text(encoding="utf-8")
    import base64

    assert base64.b64encode(outside.read_bytes()).decode() not in page
    problems = load_episode(folder).problems
    assert any("step-0099.png is a link" in p for p in problems), problems
    assert any("frame step-0002.png is not a plain file" in p for p in problems), problems


def test_episode_files_that_are_links_out_of_the_folder_are_not_read(tmp_path):
    folder = episode_copy(tmp_path)
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"id": "stolen", "instruction": "host secret"}))
    (folder / "task.json").unlink()
    os.symlink(secret, folder / "task.json")
    ep = load_episode(folder)
    assert ep.task is None and any("task.json cannot be read" in p and "link" in p for p in ep.problems)


@pytest.mark.parametrize("name", ["../../x.png", "/etc/hostname", "imgs/../../outside.png", "link.png"])
def test_a_dataset_image_path_that_leaves_the_root_is_an_error_naming_file_record_and_field(tmp_path, name):
    root = tmp_path / "dataset"
    shutil.copytree(CORPUS / "grounding" / "screenspot", root)
    (tmp_path / "x.png").write_bytes(png(4, 4))
    os.symlink(tmp_path / "x.png", root / "screenspot_imgs" / "link.png")
    records = json.loads((root / "screenspot_desktop.json").read_text())
    records[1]["img_filename"] = name
    (root / "screenspot_desktop.json").write_text(json.dumps(records))
    done = screenact("ground", str(root), "--base-url", "http://127.0.0.1:9/v1", "--model", "m")
    assert done.returncode == 2, (done.returncode, done.stderr)
    message = done.stderr.strip().splitlines()[-1]
    assert "screenspot_desktop.json" in message and "record 1" in message and "'img_filename'" in message, message
    assert "leaves the dataset root" in message and "stolen" not in message


def test_safe_read_refuses_links_climbing_names_other_files_and_oversize(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_bytes(b"12345")
    (tmp_path / "outside").write_bytes(b"secret")
    os.symlink(tmp_path / "outside", tmp_path / "a" / "link")
    os.symlink(tmp_path, tmp_path / "a" / "dirlink")
    os.mkfifo(tmp_path / "a" / "fifo")
    assert safe_read(tmp_path / "a", "f", 5) == b"12345"
    for name in ("link", "../outside", "/etc/hostname", "dirlink/outside", "fifo"):
        with pytest.raises(UnsafeFile):
            safe_read(tmp_path / "a", name, 100)
        assert not is_plain_file(tmp_path / "a", name)
    with pytest.raises(UnsafeFile):
        safe_read(tmp_path / "a", "f", 4)
    with pytest.raises(UnsafeFile):
        inside(tmp_path / "a", "link")
    assert inside(tmp_path / "a", "f") == tmp_path / "a" / "f"


def test_atomic_write_replaces_a_link_at_the_target_and_leaves_no_temporary_file(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    os.symlink(victim, tmp_path / "out.json")
    atomic_write(tmp_path / "out.json", "{}", durable=True)
    assert victim.read_text() == "precious" and (tmp_path / "out.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "victim"]
