"""``--record-video``: ffmpeg inside a real sandbox, the file the host writes, and the report that plays it.

One sandbox serves the module; each test records its own stretch of screen."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from agent.episode import EpisodeWriter
from agent.recorder import Recorder
from agent.report import write_episode_report
from agent.step import StepRecord
from agent.video import EpisodeVideo
from sandbox import Sandbox
from sandbox.video import VIDEO_NAME

# An app that finds ffmpeg, reopens its output through /proc and writes 2 MiB of junk into it: all the
# sandbox can reach of the video. "/tmp/hit" says the attack got that far.
HOSTILE = r"""
import os, time
end = time.time() + 30
while time.time() < end:
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            if not open(f'/proc/{pid}/cmdline', 'rb').read().startswith(b'ffmpeg'):
                continue
            for fd in os.listdir(f'/proc/{pid}/fd'):
                if 'screenact-video' in os.readlink(f'/proc/{pid}/fd/{fd}'):
                    out = os.open(f'/proc/{pid}/fd/{fd}', os.O_WRONLY)
                    os.pwrite(out, b'X' * (2 << 20), 0)
                    open('/tmp/hit', 'w').write(fd)
                    raise SystemExit
        except OSError:
            pass
    time.sleep(0.05)
"""


@pytest.fixture(scope="module")
def sb():
    with Sandbox(640, 400) as sandbox:
        sandbox.launch(["xterm", "-geometry", "60x10+10+10"])
        sandbox.wait_window("xterm")
        yield sandbox


def _probe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration,format_name:stream=codec_name,"
                          "width,height", "-of", "json", str(path)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_video_is_decodable_and_as_long_as_the_recording(sb: Sandbox, tmp_path: Path) -> None:
    recording = sb.record_video()
    for n in range(4):
        sb.act({"type": "type", "text": f"echo frame {n}\n"})
        time.sleep(0.5)
    video = recording.save(tmp_path)
    assert video.file == VIDEO_NAME and video.finalised and video.problem is None, video
    info = _probe(tmp_path / VIDEO_NAME)
    assert info["streams"] == [{"codec_name": "vp8", "width": 640, "height": 400}]
    assert "webm" in info["format"]["format_name"]
    # the file's own duration is the time between the first grabbed frame and the stop (5 fps: ±1 frame)
    assert video.duration_s >= 2.0
    assert abs(float(info["format"]["duration"]) - video.duration_s) < 0.5, (info, video)
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(tmp_path / VIDEO_NAME), "-f", "null", "-"],
                             capture_output=True, text=True, timeout=60)
    assert decoded.returncode == 0 and not decoded.stderr.strip(), decoded.stderr


def test_a_hostile_app_cannot_make_the_host_write_elsewhere(sb: Sandbox, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    folder = tmp_path / "episode"
    folder.mkdir()
    os.symlink(victim, folder / VIDEO_NAME)  # planted at the very name the video goes to
    recording = sb.record_video()
    sb.launch(["python3", "-c", HOSTILE])
    deadline = time.monotonic() + 20
    while sb.run(["test", "-e", "/tmp/hit"]).code != 0:
        assert time.monotonic() < deadline, "the hostile app never reached ffmpeg's output"
        time.sleep(0.1)
    video = recording.save(folder, max_bytes=1 << 20)
    assert video.file is None and "over 1048576 bytes" in (video.problem or "")
    assert victim.read_text() == "untouched" and os.path.islink(folder / VIDEO_NAME)
    assert sorted(p.name for p in folder.iterdir()) == [VIDEO_NAME]  # no temporary file left either
    sb.run(["rm", "-f", "/tmp/hit"])

    recording = sb.record_video()  # a clean recording replaces the planted link; the victim stays as it was
    time.sleep(1)
    video = recording.save(folder)
    assert video.file == VIDEO_NAME and not os.path.islink(folder / VIDEO_NAME)
    assert victim.read_text() == "untouched"


def test_the_report_plays_the_video_with_the_steps_marked(sb: Sandbox, tmp_path: Path) -> None:
    folder = tmp_path / "ep"
    recorder = Recorder(EpisodeWriter(folder, {"id": "video-report", "instruction": "type two lines"}))
    video = EpisodeVideo(sb)
    for index in (1, 2):
        step = StepRecord.start(index, action_text=f"type line {index}")
        step.frame = recorder.save_frame(index, sb.screenshot())
        sb.act({"type": "type", "text": f"echo line {index}\n"})
        recorder.step(step)
        time.sleep(0.4)
    recorder.writer.finish({"status": "done"})
    record = video.save(folder)
    page = write_episode_report(folder).read_text(encoding="utf-8")
    assert f'<video controls preload="metadata" src="{VIDEO_NAME}">' in page
    steps = [json.loads(line) for line in (folder / "steps.jsonl").read_text().splitlines()]
    for step in steps:  # each marker sits at the step's frame time, counted from the video's first frame
        t = round(step["at"] - record["started_at"], 2)
        assert 0 <= t <= record["duration_s"]
        assert f'href="#step-{step["index"]}" data-video-t="{t}"' in page

    (folder / VIDEO_NAME).unlink()  # a foreign folder whose video is a link to elsewhere: not played
    os.symlink("/etc/hostname", folder / VIDEO_NAME)
    page = write_episode_report(folder).read_text(encoding="utf-8")
    assert "<video" not in page and "No video" in page


def test_the_ui_config_carries_the_flag_to_the_app() -> None:
    from agent.ui.ui_config import UIConfig

    assert UIConfig.from_env(UIConfig(record_video=True).to_env()).record_video is True
    assert UIConfig.from_env(UIConfig().to_env()).record_video is False
