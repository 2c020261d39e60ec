"""``screenact run --ray`` on a real Ray cluster of this machine: a head and a second node joined with ``ray start``.

One cluster for the module (each node 1 CPU and one sandbox). Runs go through the real CLI in a child
process (as a user runs it), with real sandboxes and the OCR grounder on the nodes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.cluster.episodes import pack, unpack
from agent.episode import load_episode
from sandbox import sandbox_processes
from tasks import SUITE_DIR
from tests.processes import wait_until
from tests.ray_cluster import LocalCluster, driver_env

ROOT = Path(__file__).resolve().parent.parent
SLICE = ["xterm-mkdir", "xterm-infeasible-gui"]  # fast scripted tasks (~1–5 s): one on each node

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def cluster():
    nodes = LocalCluster()
    try:
        yield nodes.start(nodes=1)
    finally:
        nodes.stop()
    assert not any(node.processes() for node in nodes.nodes)


def screenact(*args: str, out: Path, ray: str | None = None) -> subprocess.Popen:
    argv = [sys.executable, "-m", "agent.cli", "run", *args, "--mode", "scripted", "--grounder", "ocr", "--out",
            str(out)] + (["--ray", ray] if ray else [])
    return subprocess.Popen(argv, cwd=ROOT, env=driver_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def task_files(ids: list[str]) -> list[str]:
    return [str(Path(SUITE_DIR) / f"{i}.yaml") for i in ids]


def lines(out: Path) -> dict[str, dict]:
    return {t["id"]: t for t in json.loads((out / "results.json").read_text())["tasks"]}


def test_a_hostile_episode_from_a_node_is_written_only_inside_its_folder(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    # the node packs regular files only: a link to a file elsewhere is not sent
    episode = tmp_path / "node-episode"
    (episode / "sub").mkdir(parents=True)
    (episode / "step-0001.png").write_bytes(b"\x89PNG frame")
    (episode / "sub" / "x.txt").write_text("x")
    (episode / "leak").symlink_to(outside / "keep.txt")
    assert pack(episode) == {"step-0001.png": b"\x89PNG frame", "sub/x.txt": b"x"}
    # what comes back is hostile: names that leave, odd names, odd values; the folder itself a planted link
    run = tmp_path / "run"
    run.mkdir()
    (run / "task").symlink_to(outside, target_is_directory=True)
    hostile = {"../escape.txt": b"a", "/tmp/abs-escape.txt": b"b", "sub/../../escape2.txt": b"c", "": b"d",
               "nul\x00.txt": b"e", "value.txt": "not bytes", 7: b"f", "step-0001.png": b"\x89PNG frame",
               "sub/x.txt": b"x", "sub": b"a file where a folder is"}
    refused = unpack(hostile, run / "task")
    assert not (run / "task").is_symlink() and (run / "task").is_dir()
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"] and (outside / "keep.txt").read_text() == "mine"
    assert not (tmp_path / "escape.txt").exists() and not (run / "escape.txt").exists()
    assert not Path("/tmp/abs-escape.txt").exists()
    assert (run / "task" / "step-0001.png").read_bytes() == b"\x89PNG frame"  # the bytes as sent
    assert (run / "task" / "sub" / "x.txt").read_bytes() == b"x"
    written = sorted(p.relative_to(run / "task").as_posix() for p in (run / "task").rglob("*") if p.is_file())
    assert written == ["step-0001.png", "sub/x.txt"]
    assert len(refused) == 8, refused


def test_a_suite_slice_on_two_nodes_equals_a_local_run_and_resumes_locally(cluster, tmp_path):
    local, remote = tmp_path / "local", tmp_path / "ray"
    code, _, err = finish(screenact(*task_files(SLICE), "--parallel", "2", out=local))
    assert code == 0, err
    code, stdout, err = finish(screenact(*task_files(SLICE), out=remote, ray=cluster.address))
    assert code == 0, err
    assert "2 node(s)" in err and "2 task(s) in flight" in err  # the default: the cluster's sandboxes
    mine, theirs = lines(local), lines(remote)
    same = ("status", "steps", "unusable", "reason", "episode", "tokens")
    assert {i: [t[k] for k in same] for i, t in theirs.items()} == {i: [t[k] for k in same] for i, t in mine.items()}
    assert all("node" not in t for t in mine.values())  # a local run's results are as before
    assert len({t["node"] for t in theirs.values()}) == 2  # two in flight, one sandbox per node: both worked
    for task_id in SLICE:
        episode = load_episode(remote / task_id)
        assert episode.complete, episode.problems  # every frame the steps name is there (else a problem)
        assert episode.steps and all(s.frame for s in episode.steps)
    report = (remote / "report.html").read_text()
    assert 'data-key="node"' in report and "2 nodes" in report
    assert "report: " in stdout and (remote / SLICE[0] / "report.html").is_file()
    # --resume on this machine, without the cluster: everything is finished, nothing runs, nodes are kept
    code, _, err = finish(screenact(*task_files(SLICE), "--resume", out=remote))
    assert code == 0 and "2 task(s) already finished, 0 to run" in err, err
    assert {i: t["node"] for i, t in lines(remote).items()} == {i: t["node"] for i, t in theirs.items()}


def test_doctor_checks_every_node_and_prints_the_ray_start_flags(cluster):
    done = subprocess.run([sys.executable, "-m", "agent.cli", "doctor", "--ray", cluster.address, "--ray-resources"],
                          cwd=ROOT, env=driver_env(), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    nodes = [line for line in done.stdout.splitlines() if line.split()[1:3] == ["ray", "node"]]
    assert len(nodes) == 2 and all(line.startswith("ok ") and "same code" in line for line in nodes), nodes
    assert """--resources '{"screenact_sandbox": """ in done.stdout and "ray start --head" in done.stdout


def test_an_error_raised_on_a_node_comes_back_with_that_nodes_name_and_message(cluster):
    code = ("import json, sys; from agent.cluster import RESOURCE, connect\n"
            "with connect(sys.argv[1]) as cluster:\n"
            "    for done in cluster.map(int, ['7', 'seven'], in_flight=2, resources={RESOURCE: 1}):\n"
            "        print(json.dumps([done.value, done.error, done.node, done.retries]))\n")
    done = subprocess.run([sys.executable, "-c", code, cluster.address], cwd=ROOT, env=driver_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    ok = next(a for a in answers if a[0] == 7)
    bad = next(a for a in answers if a[1])
    assert ok[1] is None and ok[2] and ok[3] == []
    assert bad[1] == f"on node {bad[2]}: ValueError: invalid literal for int() with base 10: 'seven'" and bad[3] == []


def test_ctrl_c_cancels_the_running_tasks_and_keeps_the_finished(cluster, tmp_path):
    out = tmp_path / "run"
    proc = screenact(*task_files(["xterm-infeasible-gui", "xterm-mkdir", "xterm-zh-copy", "xterm-unicode"]),
                     "--parallel", "1", out=out, ray=cluster.address)

    def one_finished() -> bool:
        try:
            return any(t["status"] == "passed" for t in lines(out).values())
        except (OSError, ValueError):
            return False

    wait_until(one_finished, 120, "a first task to finish on the cluster")
    running: set[str] = set()
    wait_until(lambda: running.update(*(node.sandboxes() for node in cluster.nodes)) or running, 60,
               "the next task's sandbox to start")
    proc.send_signal(signal.SIGINT)
    code, _, err = finish(proc, 60)
    assert code == 130, err
    results = json.loads((out / "results.json").read_text())
    assert results["run"]["interrupted"] is True
    statuses = {t["id"]: t["status"] for t in results["tasks"]}
    finished = [i for i, s in statuses.items() if s == "passed"]
    assert finished and set(statuses.values()) <= {"passed", "cancelled", "not_started"}, statuses
    assert "not_started" in statuses.values()
    for task_id in finished:
        assert load_episode(out / task_id).complete
    wait_until(lambda: not any(sandbox_processes(i) for i in running), 20, "the cancelled task's sandbox to end")


def test_a_run_without_ray_never_imports_it():
    code = ("import sys; import agent.cli, agent.commands.run, agent.runner, agent.cluster; "
            "sys.exit('ray' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def text_buttons(root: Path) -> Path:
    """A ScreenSpot-Pro-format set: three screenshots of three labelled buttons, an instruction for each button
    and one for a button that is not there."""
    from PIL import Image, ImageDraw, ImageFont

    (root / "annotations").mkdir(parents=True)
    (root / "images").mkdir()
    font = ImageFont.truetype("DejaVuSans.ttf", 22)
    recs = []
    for i, words in enumerate((("Save", "Open", "Cancel"), ("Print", "Delete", "Rename"), ("Copy", "Paste", "Undo"))):
        img = Image.new("RGB", (480, 200), (240, 240, 240))
        draw = ImageDraw.Draw(img)
        for j, word in enumerate((*words, "Nowhere")):
            x, y = 30 + 150 * j, 80
            if word != "Nowhere":
                draw.rectangle([x - 8, y - 8, x + 110, y + 36], outline=(90, 90, 90), fill=(255, 255, 255))
                draw.text((x, y), word, fill=(0, 0, 0), font=font)
            recs.append({"img_filename": f"s{i}.png", "bbox": [x - 8, y - 8, x + 110, y + 36],
                         "instruction": f"the {word} button", "id": f"s{i}-{j}", "application": "buttons",
                         "platform": "linux", "img_size": [480, 200], "ui_type": "text", "group": "Dev"})
        img.save(root / "images" / f"s{i}.png")
    (root / "annotations" / "buttons_linux.json").write_text(json.dumps(recs))
    return root


def test_ground_with_the_ocr_grounder_on_the_cluster_matches_a_local_run(cluster, tmp_path):
    from agent.cli import main as cli

    dataset = text_buttons(tmp_path / "ds")
    args = ["ground", str(dataset), "--grounder", "ocr", "--no-progress", "--out"]
    assert cli([*args, str(tmp_path / "local.json")]) == 0  # here, in this process
    done = subprocess.run([sys.executable, "-m", "agent.cli", *args, str(tmp_path / "ray.json"),
                           "--ray", cluster.address], cwd=ROOT, env=driver_env(), capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr
    assert "on the Ray cluster" in done.stderr and "2 node(s)" in done.stderr
    answers = {}
    for where in ("local", "ray"):
        details = json.loads((tmp_path / f"{where}.json").read_text())["details"]
        answers[where] = {d["id"]: (d["pred"], d["pred_pixel"], d["correctness"]) for d in details}
    assert answers["ray"] == answers["local"]
    assert len(answers["local"]) == 12
    assert sum(c == "correct" for _, _, c in answers["local"].values()) == 9  # every button, no "Nowhere"


def test_ground_on_a_cluster_is_for_the_ocr_grounder_and_a_known_address(tmp_path, capsys):
    from agent.cli import main as cli

    pro = ROOT / "tests" / "corpus" / "grounding" / "screenspot_pro"
    assert cli(["ground", str(pro), "--ray", "local", "--out", str(tmp_path / "a.json")]) == 2
    assert "--grounder ocr" in capsys.readouterr().err
    assert cli(["ground", str(pro), "--grounder", "ocr", "--ray", "ray://head:10001",
                "--out", str(tmp_path / "b.json")]) == 2
    assert "ray://" in capsys.readouterr().err


def test_a_node_dying_mid_task_is_retried_on_the_head_and_nothing_is_lost(cluster, tmp_path):
    """Last in the module: it kills the second node for good."""
    out = tmp_path / "run"
    second = cluster.nodes[1]
    proc = screenact(*task_files(["xterm-infeasible-gui", "xterm-mkdir"]), out=out, ray=cluster.address)
    wait_until(second.busy, 120, "a task to start on the second node")
    os.kill(second.raylet(), signal.SIGKILL)
    code, _, err = finish(proc)
    assert code == 0, err
    results = lines(out)
    assert {t["status"] for t in results.values()} == {"passed"}
    retried = [t for t in results.values() if t.get("retries")]
    assert len(retried) == 1 and "Error" in retried[0]["retries"][0], results
    assert len({t["node"] for t in results.values()}) == 1  # both ended on the head, the only node left
    for task_id in results:
        assert load_episode(out / task_id).complete
