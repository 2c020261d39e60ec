"""A wrong set-up is refused before any work starts: one line naming the flag and value, exit 2, no traceback.
Each command goes through the real ``screenact`` command in a subprocess at least once here; the other cases
call the same ``main`` in this process (``in_process``: same argv, environment, working folder and standard
input; only the interpreter start-up, ~0.5 s a call, is saved)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from functools import partial
from pathlib import Path
from unittest import mock

import pytest

from tests.stub_openai import StubOpenAI

ROOT = Path(__file__).resolve().parent.parent
PRO = ROOT / "tests" / "corpus" / "grounding" / "screenspot_pro"
FORM = str(ROOT / "tasks" / "suite" / "form-country-canada.yaml")


def screenact(*argv: object, cwd: Path = ROOT, env: dict[str, str] | None = None, stdin: str | None = None,
              timeout: float = 300, in_process: bool = False) -> subprocess.CompletedProcess:
    """The real command line, as a user runs it (no OPENAI_* from the test's environment unless given);
    ``in_process``: the same ``main`` called here, its exit code and output returned alike."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    if in_process:
        return _in_process([str(a) for a in argv], cwd, {**base, **(env or {})}, stdin)
    return subprocess.run([sys.executable, "-m", "agent.cli", *map(str, argv)], cwd=cwd, env={**base, **(env or {})},
                          input=stdin, capture_output=True, text=True, timeout=timeout)


def _in_process(argv: list[str], cwd: Path, env: dict[str, str], stdin: str | None) -> subprocess.CompletedProcess:
    from agent.cli import main

    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, env, clear=True), contextlib.chdir(cwd), \
            mock.patch.object(sys, "stdin", io.StringIO(stdin or "")), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: usage errors and --help
            code = exc.code if isinstance(exc.code, int) else 2
    return subprocess.CompletedProcess(["screenact", *argv], code, out.getvalue(), err.getvalue())


inproc = partial(screenact, in_process=True)


def refused(proc: subprocess.CompletedProcess, *words: str) -> str:
    """Assert exit 2, no traceback, and a last line on stderr that is the error naming ``words``; returns it.
    (Progress lines may come before it; argparse prints the usage before its own.)"""
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], err[-2000:])
    assert "Traceback" not in err, err
    line = err.splitlines()[-1]
    assert line.startswith("screenact ") and ": error: " in line, err
    for word in words:
        assert word in line, (word, line)
    return line


def test_grounder_in_auto_mode_is_refused():
    refused(inproc("run", "suite", "--mode", "auto", "--grounder", "ocr"), "--grounder ocr", "--mode scripted")


def test_max_steps_in_scripted_mode_is_refused():
    refused(inproc("run", "suite", "--mode", "scripted", "--max-steps", "3"), "--max-steps", "scripted")


def test_an_exported_server_is_not_asked_for_the_ocr_grounder(tmp_path):
    """--mode scripted grounds with ocr even with OPENAI_BASE_URL exported: no server is asked (this one is not
    there), the only refusal is the --filter. (tests/test_replay_scripted.py runs --grounder ocr to the end with
    the URL exported and checks the grounder printed and recorded.)"""
    proc = inproc("run", FORM, "--mode", "scripted", "--out", tmp_path / "again", "--filter", "nothing-matches",
                  env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    refused(proc, "--filter")


@pytest.mark.parametrize("where", ["flag", "env"])
def test_a_base_url_without_scheme_is_refused_with_the_fix(where, tmp_path):
    url = "gpu-box:8000/v1"
    argv = ["run", "suite", "--out", tmp_path / "run"] + (["--base-url", url] if where == "flag" else [])
    proc = inproc(*argv, env={"OPENAI_BASE_URL": url} if where == "env" else None)
    refused(proc, "--base-url" if where == "flag" else "OPENAI_BASE_URL", "http://gpu-box:8000/v1")
    assert not (tmp_path / "run").exists()


def test_run_names_the_models_a_server_offers_for_a_wrong_model_before_any_task(tmp_path):
    with StubOpenAI(models=["Kimi-VL-A3B-Thinking", "other"]) as stub:
        proc = screenact("run", "suite", "--base-url", stub.base_url, "--model", "kimi", "--out", tmp_path / "run")
        assert stub.chat_requests == []
    refused(proc, "kimi", "Kimi-VL-A3B-Thinking", "other")
    assert not (tmp_path / "run").exists()


def test_bad_out_paths_are_one_line_everywhere(tmp_path):
    afile = tmp_path / "a-file"
    afile.write_text("x")
    refused(inproc("run", FORM, "--grounder", "ocr", "--out", afile), "--out", str(afile))
    refused(inproc("sandbox", "--out", afile / "shots"), "--out", "Not a directory")
    refused(inproc("ground", PRO, "--grounder", "ocr", "--out", tmp_path), "--out", "is a folder")
    refused(inproc("make-grounding-set", afile / "set"), str(afile))
    refused(inproc("report", ROOT / "tests" / "corpus", "--out", afile / "x/"), "--out")
    refused(inproc("demo", "--out", afile), "--out", str(afile))


def test_bad_launch_commands_are_one_line(tmp_path):
    refused(inproc("sandbox", "--launch", "xterm -title 'demo"), "--launch", "no closing quotation")
    refused(inproc("sandbox", "--launch", "no-such-program --x"), "no-such-program", "not found")
    episode = _recorded_episode(tmp_path)
    refused(screenact("replay", episode, "--launch", "xterm -title 'x"), "--launch", "no closing quotation")
    refused(inproc("replay", episode, "--launch", "no-such-program"), "no-such-program")


def _recorded_episode(tmp_path: Path) -> Path:
    """A small episode folder recorded by the real episode writer (one step, no frame needed for the refusals)."""
    from agent.episode import EpisodeWriter
    from agent.step import StepRecord

    folder = tmp_path / "ep"
    writer = EpisodeWriter(folder, {"id": "t", "instruction": "x", "mode": "auto", "profile": "kimi-vl-thinking"})
    writer.record(StepRecord(index=1, reply="## Action:\nx\n\n## Code:\n```python\nDONE\n```"))
    writer.finish({"status": "done"})
    writer.close()
    return folder


def test_a_window_that_never_appears_and_a_missing_program_inside_are_one_line(tmp_path):
    from sandbox import Sandbox

    with mock.patch.object(Sandbox.wait_window, "__defaults__", (1.0,)):  # the same refusal, 9 s sooner
        refused(inproc("sandbox", "--screen", "320x240", "--wait-window", "no-such-window", "--out", tmp_path),
                "no-such-window")


def test_a_missing_desktop_program_is_one_line(tmp_path):
    """No Xvfb/openbox/bwrap on PATH: the desktop cannot start, said in one line, before any task or scene."""
    bare = tmp_path / "bin"
    bare.mkdir()
    refused(inproc("sandbox", "--out", tmp_path / "shots", env={"PATH": str(bare)}), "bwrap")
    for argv, call in ((["run", FORM, "--grounder", "ocr", "--out", tmp_path / "run"], inproc),
                       (["demo", "--out", tmp_path / "demo"], inproc),
                       (["make-grounding-set", tmp_path / "set", "--n", "1"], screenact)):
        refused(call(*argv, env={"PATH": str(bare)}), "Xvfb (Debian: apt-get install xvfb)", "openbox")
    assert not list((tmp_path / "run").glob("*/"))  # no task started


def test_an_existing_run_folder_is_kept_unless_resume_or_overwrite(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.json").write_text(json.dumps({"run": {"mode": "scripted", "grounder": "ocr"}, "tasks": []}))
    refused(inproc("run", FORM, "--grounder", "ocr", "--out", out), "--resume", "--overwrite")
    refused(inproc("run", FORM, "--grounder", "ocr", "--out", out, "--resume", "--overwrite"), "contradict")
    with StubOpenAI() as stub:  # a resume in another mode would mislabel the earlier results
        proc = inproc("run", FORM, "--base-url", stub.base_url, "--out", out, "--resume")
    refused(proc, "--mode scripted --grounder ocr", "--mode auto")
    refused(inproc("run", FORM, "--grounder", "vlm", "--out", out, "--resume"), "--grounder vlm")


def test_demo_parallel_0_is_refused():
    refused(screenact("demo", "--parallel", "0"), "--parallel")


def test_ground_names_a_missing_dataset_before_an_existing_results_file(tmp_path):
    (tmp_path / "results.json").write_text("{}")
    refused(inproc("ground", "/nope", "--out", tmp_path / "results.json"), "/nope")


def test_ground_writes_under_runs_by_default_and_quotes_the_command_it_suggests(tmp_path):
    gen = tmp_path / "my set"
    proc = screenact("ground", PRO, "--grounder", "ocr", "--limit", "1", "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert list(tmp_path.glob("runs/ground-*/results.json")) and not (tmp_path / "results.json").exists()
    from agent.commands._common import shell_command

    assert shell_command("screenact", "ground", gen, "--grounder", "ocr") == \
        f"screenact ground '{gen}' --grounder ocr"


def test_ground_says_why_requests_failed(tmp_path):
    with StubOpenAI(responder=lambda body: "x") as stub:
        for _ in range(3):
            stub.fail_next("invalid_json")
        proc = inproc("ground", PRO, "--base-url", stub.base_url, "--out", tmp_path / "r.json", "--concurrency", "1",
                      "--no-progress")
    assert proc.returncode == 1
    line = next(line for line in proc.stderr.splitlines() if "request(s) failed" in line)
    assert "3× " in line and "invalid response" in line and f"--out {tmp_path / 'r.json'} --resume" in line


def test_global_flags_version_and_verbose_after_the_subcommand_and_usage_of_the_subcommand():
    proc = screenact("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("screenact ")
    refused(inproc("report", "-v", "/nope"), "/nope")
    proc = inproc("run", "suite", "--no-such-flag")
    assert proc.returncode == 2 and proc.stderr.startswith("usage: screenact run ")
    assert "unrecognized arguments: --no-such-flag" in proc.stderr
    proc = inproc("run", "--help")
    assert "--mode {auto,scripted}" in proc.stdout and "default auto" in proc.stdout


def test_report_out_as_a_folder_writes_report_html_inside(tmp_path):
    episode = _recorded_episode(tmp_path)
    for out, call in ((tmp_path / "new", screenact), (tmp_path / "existing", inproc)):
        if out.name == "existing":
            out.mkdir()
        proc = call("report", episode, "--out", f"{out}/")
        assert proc.returncode == 0, proc.stderr
        assert (out / "report.html").is_file()


def test_serve_validates_port_and_seqs_and_a_flag_after_dashdash_replaces_its_own():
    refused(inproc("serve", "--dry-run", "--port", "70000"), "--port", "70000")
    refused(inproc("serve", "--dry-run", "--port", "0"), "--port")
    refused(inproc("serve", "--dry-run", "--max-num-seqs", "0"), "--max-num-seqs")
    proc = screenact("serve", "--dry-run", "--", "--max-num-seqs", "4", "--max-model-len=32768")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("--max-num-seqs") == 1 and "--max-num-seqs 4" in proc.stdout
    assert proc.stdout.count("--max-model-len") == 1 and "--max-model-len=32768" in proc.stdout
    assert "(default 8000)" in inproc("serve", "--help").stdout


def test_sandbox_runs_actions_in_the_order_given_names_interactive_shots_anew_and_warns_without_isolation(tmp_path):
    actions = tmp_path / "actions.jsonl"
    actions.write_text('{"type": "move", "x": 20, "y": 20}\n')
    proc = screenact("sandbox", "--screen", "320x240", "--out", tmp_path / "shots",
                     "--action", '{"type": "move", "x": 10, "y": 10}', "--actions", actions,
                     "--action", '{"type": "move", "x": 30, "y": 30}', "--interactive", "--no-isolate",
                     stdin="screenshot\nscreenshot\n")
    assert proc.returncode == 0, proc.stderr
    steps = [line for line in proc.stdout.splitlines() if line.startswith("step ")]
    assert [s.split(" ok ")[0] for s in steps] == ["step 1: move(10, 10)", "step 2: move(20, 20)",
                                                   "step 3: move(30, 30)"], steps
    shots = sorted(p.name for p in (tmp_path / "shots").iterdir())
    assert shots == ["screenshot-0001.png", "screenshot-0002.png", "step-0000.png", "step-0001.png",
                     "step-0002.png", "step-0003.png"]
    assert "WARNING: --no-isolate" in proc.stderr


def test_screen_sizes_share_one_range_and_a_bad_task_screen_shows_the_form(tmp_path):
    from tools.frame import SCREEN_SIDE

    low, high = SCREEN_SIDE
    task = tmp_path / "t.yaml"
    base = "id: t\ninstruction: x\ncheckerplaceholder\n".replace("checkerplaceholder", "checker: {kind: infeasible}")
    for screen, flag_ok in ((f"{{width: {low}, height: {high}}}", True), (f"{{width: {low - 1}, height: 600}}", False)):
        task.write_text(base + f"screen: {screen}\n")
        proc = inproc("run", task, "--grounder", "ocr", "--out", tmp_path / "r", "--filter", "no-such")
        side = f"{low}x{high}" if flag_ok else f"{low - 1}x600"
        flag = inproc("sandbox", "--screen", side, "--launch", "no-such-program")
        if flag_ok:  # both accept it: the task is refused only for the --filter, the flag only for the program
            refused(proc, "--filter")
            refused(flag, "no-such-program")
        else:
            refused(proc, "screen.width")
            assert flag.returncode == 2 and "--screen" in flag.stderr
    task.write_text(base + "screen: 1280x800\n")
    refused(inproc("run", task, "--grounder", "ocr", "--out", tmp_path / "r"), "screen", "{width: 1280, height: 800}")


def test_messages_speak_in_flags_not_python_names(tmp_path):
    refused(inproc("serve", "--dry-run", "--limit-images", "0"), "--limit-images")
    with StubOpenAI(max_model_len=600) as stub:  # too small for one screenshot: the task ends with the fix named
        proc = inproc("run", "suite", "--filter", "xterm-infeasible-gui", "--base-url", stub.base_url,
                      "--out", tmp_path / "run")
    reason = json.loads((tmp_path / "run" / "results.json").read_text())["tasks"][0]["reason"]
    assert proc.returncode == 1 and "--max-model-len" in reason and "answer floor" not in reason, reason
