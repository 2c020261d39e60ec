"""Real OSWorld tasks run on screenact's desktop as OSWorld's VM would give them: HOME /home/user with
~/Desktop, `sudo -S` and placeholders in set-ups, `python -c "import pyautogui…"` set-up commands bound to the
display, ctrl+alt+t for a terminal titled "Terminal", activate_window, downloads from a local cache in OSWorld's
layout, postconfig before the check. Through the real ``screenact run`` against the real stub model server."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from sandbox import Sandbox
from tasks import check, run_setup
from tasks.osworld import OSWORLD_HOME, OsworldOptions, osworld_task
from tasks.task import Task
from tests.stub_openai import StubOpenAI
from tests.test_cli_checks import ROOT, screenact
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


# -- one OSWorld desktop for the getters, the open step and the security checks below ------------------
CORPUS_COMPARE = ROOT / "tests" / "corpus" / "tasks" / "osworld" / "compare-text-file.json"
TERMINAL_SIZE = "13584542-872b-42d8-b299-866967b5c3ef"  # make the terminal 132x43 for good; checks `stty size`
COPY_JPGS = "23393935-50c7-4a86-aeea-2b78fd089c5c"  # copy the .jpg files of ~/Desktop/photos into ~/Desktop/cpjpg


@pytest.fixture(scope="module")
def desk():
    """A sandbox as an OSWorld task gets it (HOME /home/user), shared by the tests below."""
    with Sandbox(1280, 800, env={"HOME": OSWORLD_HOME}) as sb:
        yield sb


def osworld(path: Path, cache: Path | None = None) -> Task:
    task, reason = osworld_task(json.loads(path.read_text()), path, OsworldOptions(cache=cache))
    assert task is not None, reason
    return task


def close_terminals(sb: Sandbox) -> None:
    sb.run(["pkill", "-x", "xterm"])  # inside the sandbox's own PID namespace
    sb.run(["mkdir", "-p", OSWORLD_HOME])


def test_etc_passwd_names_the_home_the_processes_get(desk):
    # Before: /etc/passwd said /tmp/home while HOME was /home/user, so ~user and getpwuid disagreed with $HOME.
    out = desk.run(["sh", "-c", "echo $HOME ~user; python3 -c 'import os, pwd; print(pwd.getpwuid(os.getuid()).pw_dir)'"])
    assert out.stdout.split() == [OSWORLD_HOME] * 3, out
    with pytest.raises(ValueError, match="HOME"):
        Sandbox(1280, 800, env={"HOME": "/home/x:0:0::/root:/bin/sh\nroot2"})  # no line of its own in passwd


def test_an_expected_file_is_held_on_the_host_where_the_agent_cannot_read_it(desk):
    task = osworld(CORPUS_COMPARE)  # its setup writes the expected text to /tmp/expected_greeting.txt
    run_setup(task, desk)
    # Before: the expected file stayed in the sandbox, and the agent could copy it into place.
    peek = desk.run(["cat", "/tmp/expected_greeting.txt"])
    assert peek.code != 0 and "Hello" not in peek.stdout, peek
    assert not check(task, desk, wait=False).passed  # nothing done yet
    desk.write_file("/home/user/Desktop/greeting.txt", "Hello   OSWorld\n")  # blanks are ignored by this task
    assert check(task, desk, wait=False).passed
    # The result is hostile: a symbolic link or a FIFO is refused, never followed or waited on.
    desk.run(["sh", "-c", "cd ~/Desktop && rm greeting.txt && printf 'Hello OSWorld' > /tmp/x && ln -s /tmp/x greeting.txt"])
    verdict = check(task, desk, wait=False)
    assert not verdict.passed and "symbolic link" in verdict.reason, verdict
    desk.run(["sh", "-c", "cd ~/Desktop && rm greeting.txt && mkfifo greeting.txt"])
    verdict = check(task, desk, wait=False)
    assert not verdict.passed and "not a regular file" in verdict.reason, verdict


def test_a_gold_file_comes_from_the_cache_on_the_host(tmp_path, desk):
    task_json = json.loads(CORPUS_COMPARE.read_text())
    task_json["config"] = task_json["config"][:1]
    task_json["evaluator"]["expected"] = {"type": "cloud_file", "path": "https://example.org/gold", "dest": "gold.txt"}
    (tmp_path / "t.json").write_text(json.dumps(task_json))
    assert "gold file is not in the cache" in osworld_task(task_json, None, OsworldOptions(cache=tmp_path))[1]
    (tmp_path / task_json["id"]).mkdir()
    (tmp_path / task_json["id"] / "gold.txt").write_text("Hello OSWorld")
    task = osworld(tmp_path / "t.json", cache=tmp_path)
    run_setup(task, desk)
    desk.write_file("/home/user/Desktop/greeting.txt", "Hello OSWorld")
    assert check(task, desk, wait=False).passed
    desk.write_file("/home/user/Desktop/greeting.txt", "Hello")
    assert "expected 'Hello OSWorld'" in check(task, desk, wait=False).reason


def test_vm_terminal_output_reads_the_ctrl_alt_t_terminal(desk):
    close_terminals(desk)
    task = osworld(OS_DIR / f"{TERMINAL_SIZE}.json")
    run_setup(task, desk)
    run_setup(task, desk, task.before_check)  # OSWorld's postconfig: ctrl+alt+t, then `stty size`
    verdict = check(task, desk, wait=False)
    assert not verdict.passed and 'expected it to show ["43 132"]' in verdict.reason and "24 80" in verdict.reason
    close_terminals(desk)
    # What the agent could do: give every new xterm 43 rows and 132 columns, read when it starts.
    desk.write_file(f"{OSWORLD_HOME}/.Xdefaults", "XTerm*vt100.geometry: 132x43\n")
    run_setup(task, desk, task.before_check)
    assert check(task, desk, wait=False).passed
    close_terminals(desk)
    desk.run(["rm", f"{OSWORLD_HOME}/.Xdefaults"])
    verdict = check(task, desk, wait=False)
    assert not verdict.passed and "no terminal window" in verdict.reason


def test_list_directory_names_the_files_in_the_folder(tmp_path, desk):
    task_json = json.loads((OS_DIR / f"{COPY_JPGS}.json").read_text())
    for step in task_json["config"]:
        if step["type"] == "download":
            for f in step["parameters"]["files"]:
                cache_file(tmp_path, COPY_JPGS, {"config": [step]}, "config", "not really a picture")
    task = osworld(OS_DIR / f"{COPY_JPGS}.json", cache=tmp_path)
    run_setup(task, desk)
    verdict = check(task, desk, wait=False)
    assert not verdict.passed and "found []" in verdict.reason, verdict
    desk.run(["sh", "-c", "find ~/Desktop/photos -name '*.jpg' -exec cp {} ~/Desktop/cpjpg/ \\;"])
    assert check(task, desk, wait=False).passed
    desk.run(["sh", "-c", "cp ~/Desktop/photos/family/us_3.png ~/Desktop/cpjpg/"])
    assert "us_3.png" in check(task, desk, wait=False).reason


def test_open_starts_the_files_default_app_or_says_why_not(tmp_path, desk):
    task_json = json.loads(CORPUS_COMPARE.read_text())
    task_json["config"] = [{"type": "execute", "parameters": {"command": "printf 'Dear diary' > ~/Desktop/notes.txt",
                                                              "shell": True}},
                           {"type": "open", "parameters": {"path": "~/Desktop/notes.txt"}}]
    (tmp_path / "t.json").write_text(json.dumps(task_json))
    task = osworld(tmp_path / "t.json")
    run_setup(task, desk)  # no gedit here: the sandbox's own text editor, with the file open
    state = json.loads(desk.read_file(task.apps()["editor"]))["state"]
    assert (state["path"], state["text"]) == ("/home/user/Desktop/notes.txt", "Dear diary")
    assert any(w.title == "notes.txt - Text Editor" for w in desk.windows())  # (it stays open: killing an app
    # the sandbox launched is reported once, by whichever call comes next)
    task_json["config"][1]["parameters"]["path"] = "/home/user/Desktop/report.docx"
    reason = osworld_task(task_json, None, OsworldOptions())[1]
    assert reason == "config[1] open: no application for .docx files is installed here (tried libreoffice)"


def test_json_settings_csv_config_and_list_metrics(tmp_path, desk):
    def task(func, result, expected, **extra):
        doc = {"id": f"t-{func}", "instruction": "x", "config": [],
               "evaluator": {"func": func, "result": result, "expected": expected, **extra}}
        found, reason = osworld_task(doc, None, OsworldOptions(cache=tmp_path))
        assert found is not None, reason
        return found

    settings = {"type": "vm_file", "path": "/home/user/.config/Code/User/settings.json", "dest": "settings.json"}
    wrap = task("check_json_settings", settings, {"type": "rule", "rules": {"expected": {"editor.wordWrapColumn": 50}}})
    desk.write_file(settings["path"], '{"editor.wordWrapColumn": 50, "files.autoSave": "off"}')
    assert check(wrap, desk, wait=False).passed
    desk.write_file(settings["path"], '{"editor.wordWrapColumn": 80}')
    assert "found {\"editor.wordWrapColumn\": 80}" in check(wrap, desk, wait=False).reason
    desk.write_file(settings["path"], "// not JSON")
    assert "is not JSON" in check(wrap, desk, wait=False).reason
    config = task("compare_config", settings, {"type": "rule", "rules": {"expected": '{"theme": "dark"}\n'}})
    desk.write_file(settings["path"], '{"theme": "dark"}\n')
    assert check(config, desk, wait=False).passed

    (tmp_path / "t-compare_csv").mkdir()
    (tmp_path / "t-compare_csv" / "gold.csv").write_bytes(b"name,n\r\n  Ada,1\r\n")
    csv = {"type": "vm_file", "path": "/home/user/Desktop/out.csv", "dest": "out.csv"}
    gold = {"type": "cloud_file", "path": "https://example.org/gold.csv", "dest": "gold.csv"}
    desk.write_file(csv["path"], "name,n\n  Ada,1")  # line by line: the line ends do not matter
    assert check(task("compare_csv", csv, gold), desk, wait=False).passed
    desk.write_file(csv["path"], "name,n\nAda,1\n")  # strict (the default) keeps the blanks of a line
    assert "expected" in check(task("compare_csv", csv, gold), desk, wait=False).reason
    assert check(task("compare_csv", csv, gold, options={"strict": False}), desk, wait=False).passed
    listed = task("is_in_list", {"type": "vm_command_line", "command": "ls /home/user/Desktop", "shell": True},
                  {"type": "rule", "rules": {"expected": "out.csv"}})
    assert check(listed, desk, wait=False).passed
