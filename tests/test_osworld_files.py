"""OSWorld's own task files, as they are, through ``screenact tasks`` and ``screenact run``: every file is listed
as runnable or skipped with its reason, malformed files are refused naming file and field, and skipped tasks
appear in results.json as skipped — never dropped, never failures. Real CLI subprocesses; the run uses the real
stub model server and a real sandbox."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.stub_openai import StubOpenAI
from tests.test_cli_checks import ROOT, screenact
from tests.test_cli_results import GIVE_UP

DATA = ROOT / "tests" / "data" / "osworld"
OS_DIR = DATA / "examples" / "os"

# Each kept os-domain file: None (runs here) or a piece of the reason it is skipped.
EXPECTED_OS = {
    "0b35aee5": "getter calc_insensitive_md5 has no equivalent", "13584542": None,
    "23393935": "config[3] download: file not in the cache", "28cc3b7e": None,
    "37887e8c": "download: file not in the cache",
    "3ce045a0": "'check_text_enlarged' has no equivalent", "4127319a": "config[0] download: file not in the cache",
    "43c2d64c": None, "4783cc41": None, "4d117223": "config[0] download: file not in the cache (no network)",
    "4d2b519e": "'func' is empty", "5812b315": "postconfig[1] download: file not in the cache",
    "5c1075ca": "download: file not in the cache", "5c433d22": "'func' is empty",
    "5ced85fc": "postconfig[0] download: file not in the cache", "5ea617a3": "download: file not in the cache",
    "6ebbfb01": None, "6f56bf42": "download: file not in the cache", "765d2b74": "'func' is empty",
    "7688b85f": None, "94d95f96": None, "a462a795": None, "a4d98375": None, "ae039631": None, "b3d4a89c": None,
    "b6781586": "'is_utc_0' has no equivalent", "bedcedc4": None, "c288e301": None, "c56de254": None,
    "cc9d4f34": None, "ddc75b62": None, "e0df059f": None, "ec4e3f68": "'check_gnome_favorite_apps' has no equivalent",
    "f10b16e1": "'func' is empty", "f9be0997": None, "fe41f596": None,
}


def listing(*argv: object) -> list[dict]:
    proc = screenact("tasks", *argv, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_every_kept_osworld_file_is_listed_as_runnable_or_skipped_with_its_reason():
    entries = listing(DATA / "examples")
    files = sorted((DATA / "examples").rglob("*.json"))
    assert sorted(Path(e["source"]).resolve() for e in entries) == [f.resolve() for f in files]
    assert {e["format"] for e in entries} == {"osworld"}
    os_entries = {e["id"][:8]: e for e in entries if "/os/" in e["source"]}
    assert set(os_entries) == set(EXPECTED_OS)
    for short, why in EXPECTED_OS.items():
        e = os_entries[short]
        if why is None:
            assert (e["status"], e["reason"]) == ("ok", None), e
        else:
            assert e["status"] == "skipped" and why in e["reason"], e
    others = {e["id"][:8]: e for e in entries if "/os/" not in e["source"]}
    assert others["3720f614"]["status"] == "ok"  # chrome, infeasible: nothing to install
    assert "download: file not in the cache (no network)" in others["2c9fc0de"]["reason"]
    assert others["f918266a"]["reason"] == ("expected cloud_file: the gold file is not in the cache (no network); "
                                            "give --osworld-cache")
    assert "'is_extension_installed' has no equivalent" in others["0512bb38"]["reason"]  # vs_code


def test_formats_are_told_apart_and_the_plain_listing_says_why(tmp_path):
    (tmp_path / "ours.yaml").write_text((ROOT / "tasks" / "suite" / "xterm-mkdir.yaml").read_text())
    shutil.copy(OS_DIR / "3ce045a0-877b-42aa-8d2c-b4a863336ab8.json", tmp_path)
    by_format = {e["format"]: e for e in listing(tmp_path)}
    assert by_format["screenact"]["id"] == "xterm-mkdir" and by_format["screenact"]["status"] == "ok"
    assert by_format["osworld"]["status"] == "skipped"
    plain = screenact("tasks", tmp_path)
    assert plain.returncode == 0
    assert "skipped  osworld" in plain.stdout and "check_text_enlarged" in plain.stdout
    assert "2 task(s): 1 ok, 1 skipped" in plain.stdout


def test_a_malformed_osworld_file_exits_2_naming_file_and_field(tmp_path):
    task = json.loads((OS_DIR / "28cc3b7e-b194-4bc9-8353-d04c0f4d56d2.json").read_text())
    del task["instruction"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(task))
    for command in (("tasks", bad), ("run", bad, "--mode", "scripted", "--out", tmp_path / "run")):
        proc = screenact(*command)
        assert proc.returncode == 2, proc.stderr
        assert str(bad) in proc.stderr and "field 'instruction'" in proc.stderr
    bad.write_text('{"id": "x", "instruction": "y", "config": {"type": "sleep"}}')
    proc = screenact("tasks", bad)
    assert proc.returncode == 2 and "field 'config'" in proc.stderr


def test_a_test_set_reads_its_tasks_from_the_osworld_root(tmp_path):
    test_set = tmp_path / "test_small.json"
    test_set.write_text(json.dumps({"os": ["28cc3b7e-b194-4bc9-8353-d04c0f4d56d2", "b6781586-6346-41cd-935a-a6b1487918fc"],
                                    "chrome": ["3720f614-37fd-4d04-8a6b-76f54f8c222d"]}))
    entries = listing(test_set, "--osworld-root", DATA)
    assert [(e["id"][:8], e["status"]) for e in entries] == [("28cc3b7e", "ok"), ("b6781586", "skipped"),
                                                             ("3720f614", "ok")]
    proc = screenact("tasks", test_set)
    assert proc.returncode == 2 and "--osworld-root" in proc.stderr
    test_set.write_text(json.dumps({"os": ["no-such-task"]}))
    proc = screenact("tasks", test_set, "--osworld-root", DATA)
    assert proc.returncode == 2 and "field 'os'" in proc.stderr and "no-such-task" in proc.stderr


def test_run_takes_osworld_files_and_reports_skipped_tasks_apart(tmp_path):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    for name in ("b3d4a89c-53f2-4d6b-8b6a-541fb5d205fa", "b6781586-6346-41cd-935a-a6b1487918fc"):
        shutil.copy(OS_DIR / f"{name}.json", tasks)
    out = tmp_path / "run"
    with StubOpenAI([GIVE_UP]) as stub:  # the infeasible task (switch off Bluetooth): the model gives up
        proc = screenact("run", tasks, "--base-url", stub.base_url, "--out", out)
    assert proc.returncode == 0, proc.stderr  # the skipped task is no failure
    results = json.loads((out / "results.json").read_text())
    by_id = {t["id"][:8]: t for t in results["tasks"]}
    assert by_id["b3d4a89c"]["status"] == "passed"
    assert by_id["b6781586"]["status"] == "skipped" and "'is_utc_0'" in by_id["b6781586"]["reason"]
    summary = results["summary"]
    assert (summary["passed"], summary["failed"], summary["skipped"], summary["total"]) == (1, 0, 1, 2)
    assert "1 skipped" in proc.stdout
    report = (out / "report.html").read_text()
    assert "b6781586-6346-41cd-935a-a6b1487918fc" in report and "is_utc_0" in report
