"""Real OSWorld tasks run on screenact's desktop as OSWorld's VM would give them: HOME /home/user with
~/Desktop, `sudo -S` and placeholders in set-ups, `python -c "import pyautogui…"` set-up commands bound to the
display, ctrl+alt+t for a terminal titled "Terminal", activate_window, downloads from a local cache in OSWorld's
layout, postconfig before the check. Through the real ``screenact run`` against the real stub model server."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

from tests.stub_openai import StubOpenAI
from tests.test_cli_checks import screenact
from tests.test_cli_results import GIVE_UP, kimi
from tests.test_osworld_files import OS_DIR

MOVE_TODO = "7688b85f-87a4-4e4a-b2f8-f3d6c3f29b82"  # move ~/Desktop/todo.txt into ~/Desktop/done/ (sudo -S set-up)
COMPRESS = "37887e8c-da15-4192-923c-08fa390a176d"  # downloads setup.sh, opens a terminal; postconfig downloads eval.sh
INFEASIBLE = "b3d4a89c-53f2-4d6b-8b6a-541fb5d205fa"  # switch off Bluetooth: passed only by giving up
DONE = kimi("The task is complete.", "DONE")


def run_tasks(tmp_path: Path, task_ids: list[str], replies: list[str], *extra: object) -> list[dict]:
    tasks = tmp_path / "tasks"
    tasks.mkdir(exist_ok=True)
    for task_id in task_ids:
        shutil.copy(OS_DIR / f"{task_id}.json", tasks)
    out = tmp_path / "run"
    with StubOpenAI(replies) as stub:
        proc = screenact("run", tasks, "--base-url", stub.base_url, "--out", out, *extra)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads((out / "results.json").read_text())["tasks"]


def run_task(tmp_path: Path, task_id: str, replies: list[str], *extra: object) -> dict:
    (result,) = run_tasks(tmp_path, [task_id], replies, *extra)
    return result


def test_an_osworld_task_solved_in_a_terminal_passes(tmp_path):
    replies = [kimi("Open a terminal.", "pyautogui.hotkey('ctrl', 'alt', 't')"),
               kimi("Move the file.", "pyautogui.write('mv ~/Desktop/todo.txt ~/Desktop/done/\\n')"),
               DONE, GIVE_UP]
    # Two tasks in one run (a run of several may warm sandboxes ahead): each still gets HOME /home/user.
    results = run_tasks(tmp_path, [MOVE_TODO, INFEASIBLE], replies)
    assert [(r["id"], r["status"]) for r in results] == [(MOVE_TODO, "passed"), (INFEASIBLE, "passed")], results


def test_an_osworld_task_answered_done_at_once_fails(tmp_path):
    result = run_task(tmp_path, MOVE_TODO, [DONE])
    assert result["status"] == "failed" and "File does not exist." in result["reason"], result


def cache_file(cache: Path, task_id: str, task: dict, where: str, content: str) -> None:
    """Put ``content`` where OSWorld's cache keeps the download of ``where`` (config or postconfig)."""
    steps = task["config"] if where == "config" else task["evaluator"]["postconfig"]
    (f,) = next(s for s in steps if s["type"] == "download")["parameters"]["files"]
    folder = cache / task_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{uuid.uuid5(uuid.NAMESPACE_URL, f['url'])}_{Path(f['path']).name}").write_text(content)


def test_a_download_task_runs_from_a_cache_in_osworlds_layout(tmp_path):
    task = json.loads((OS_DIR / f"{COMPRESS}.json").read_text())
    cache = tmp_path / "cache"
    listed = screenact("tasks", OS_DIR / f"{COMPRESS}.json", "--osworld-cache", cache, "--json")
    assert "download: file not in the cache" in json.loads(listed.stdout)[0]["reason"]
    cache_file(cache, COMPRESS, task, "config", "#!/bin/sh\nmkdir -p /tmp/test_files && echo old > /tmp/test_files/a\n")
    cache_file(cache, COMPRESS, task, "postconfig",
               "#!/bin/sh\n[ -f /tmp/test_files/a.gz ] && echo 'Success: The task was completed correctly.' "
               "|| echo 'Failure: not compressed'\n")
    assert json.loads(screenact("tasks", OS_DIR / f"{COMPRESS}.json", "--osworld-cache", cache,
                                "--json").stdout)[0]["status"] == "ok"
    # The set-up opened a terminal with ctrl+alt+t and activated it: the model types straight into it.
    replies = [kimi("Compress it.", "pyautogui.write('gzip /tmp/test_files/a\\n')"), DONE]
    result = run_task(tmp_path, COMPRESS, replies, "--osworld-cache", cache)
    assert result["status"] == "passed", result
