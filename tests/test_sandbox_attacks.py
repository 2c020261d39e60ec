"""Attacks from inside a real sandbox (issue 11): each one ran against the sandbox before it was hardened.

Everything inside is hostile: these tests play an app (or a command the model typed) that tries to
escape, read host files, make the host follow a symlink, kill the host with SIGBUS, forge the worker's
replies, or exhaust the machine. They run as whatever user runs the tests; CI runs them as root.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from sandbox import Limits, ResourceLimitExceeded, Sandbox, SandboxError, sandbox_processes

ROOT = Path(__file__).resolve().parent.parent
SUITE_FILE = ROOT / "tasks" / "suite" / "calc-chain.yaml"
TEST_FILE = Path(__file__).resolve()


@pytest.fixture
def host_secret():
    """A file only the host should see, in a host folder the old sandbox exposed (/opt, /srv or /mnt)."""
    base = next((d for d in ("/opt", "/srv", "/mnt") if os.access(d, os.W_OK)), None)
    folder = Path(tempfile.mkdtemp(prefix="screenact-secret-", dir=base))
    secret = folder / "secret.txt"
    secret.write_text(f"TOP-SECRET-{os.getpid()}-{time.time_ns()}\n")
    yield secret
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def sb():
    with Sandbox(640, 480) as sandbox:
        yield sandbox


def poll_file(sandbox: Sandbox, path: str, timeout: float = 20.0) -> bytes:
    """The file's bytes once it exists inside the sandbox."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return sandbox.read_file(path)
        except SandboxError as exc:
            if "No such file" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.05)


# -- 1. privileges -------------------------------------------------------------------------------------

def test_every_process_inside_has_no_capabilities(sb):
    sb.launch(["xterm", "-title", "caps"])
    sb.wait_window("caps")
    code, out, err = sb.run(["sh", "-c", "for f in /proc/[0-9]*/status; do grep -E "
                             "'^(Name|Uid|CapInh|CapPrm|CapEff|CapBnd|CapAmb):' $f; echo; done"])
    assert code == 0, err
    processes = [dict(re.findall(r"^(\w+):\s*(.*)$", block, re.M)) for block in out.split("\n\n") if block.strip()]
    names = {p.get("Name") for p in processes}
    assert {"Xvfb", "openbox", "xterm"} <= names, names
    for p in processes:
        for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(p[cap], 16) == 0, (p["Name"], cap, p[cap])
        assert p["Uid"].split() == ["1000"] * 4, (p["Name"], p["Uid"])


def test_remount_escape_and_device_creation_fail(host_secret):
    before = host_secret.read_text()
    usr_victim = Path(f"/usr/screenact-pwned-{host_secret.parent.name}")
    escape = (f"umount -l /tmp; mount -o remount,bind,rw /; mount -o remount,rw /usr; "
              f"echo pwned > {host_secret}; echo pwned > {usr_victim}; "
              f"mknod /tmp/disk b 8 0 && echo MKNOD-OK; mknod /dev/mem2 c 1 1 && echo MKNOD-OK; "
              f"unshare -U -r true && echo USERNS-OK; true")
    try:
        with Sandbox(320, 240) as box:
            code, out, _ = box.run(["sh", "-c", escape])
            assert "MKNOD-OK" not in out and "USERNS-OK" not in out
            mounts = box.run(["cat", "/proc/self/mounts"]).stdout
            assert re.search(r"^\S+ /usr \S+ ro[,\s]", mounts, re.M), mounts
            assert box.run(["ls", "/tmp"]).code == 0  # /tmp is still the private one
        assert host_secret.read_text() == before
        assert not usr_victim.exists()
    finally:
        usr_victim.unlink(missing_ok=True)  # should an escape ever succeed again


def test_the_host_keyrings_are_out_of_reach(sb):
    # As host root the sandbox user is uid 0 outside, and keyrings are not namespaced: the calls are refused.
    add_key, keyctl = {"x86_64": (248, 250), "aarch64": (217, 219)}[os.uname().machine]
    probe = textwrap.dedent(f"""
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        session = ctypes.c_long(-3)  # KEY_SPEC_SESSION_KEYRING
        print(libc.syscall({keyctl}, 0, session, 0), os.strerror(ctypes.get_errno()))  # KEYCTL_GET_KEYRING_ID
        print(libc.syscall({add_key}, b"user", b"screenact-planted", b"x", 1, session), os.strerror(ctypes.get_errno()))
    """)
    code, out, err = sb.run([sys.executable, "-c", probe])
    assert out.splitlines() == ["-1 Operation not permitted"] * 2, (out, err)
    assert sb.run(["cat", "/proc/keys"]).stdout == ""


def test_sudo_runs_as_the_sandbox_user_and_grants_nothing(sb):
    code, out, err = sb.run(["sh", "-c", "echo password | sudo -S true && echo OK"])
    assert (code, out) == (0, "OK\n"), err
    code, out, _ = sb.run(["sh", "-c", "echo password | sudo -S -u root id -u; sudo id -u"])
    assert out.split() == ["1000", "1000"]
    code, out, _ = sb.run(["sudo", "-E", "grep", "CapEff", "/proc/self/status"])
    assert code == 0 and int(out.split()[1], 16) == 0
    code, out, _ = sb.run(["sh", "-c", "printf 'pw\\nrest\\n' | sudo -S cat"])
    assert out == "rest\n"  # the password line is consumed, the command gets the rest of stdin


# -- 2. the view of the host ---------------------------------------------------------------------------

def test_host_secrets_task_files_and_tests_cannot_be_read(sb, host_secret):
    secrets_ = {"/etc/shadow": None, str(host_secret): host_secret.read_text(),
                str(SUITE_FILE): SUITE_FILE.read_text(), str(TEST_FILE): None}
    for path, content in secrets_.items():
        code, out, _ = sb.run(["cat", path])
        assert code != 0, path
        assert not content or content not in out
    code, out, _ = sb.run(["ls", "-a", str(ROOT), str(ROOT / "tasks")])
    for hidden in ("suite", "tests", "runs", "checkers.py", "solution.py", ".git"):
        assert hidden not in out.split(), (hidden, out)
    host_id = Path("/etc/machine-id").read_text() if Path("/etc/machine-id").exists() else None
    assert host_id is None or sb.run(["cat", "/etc/machine-id"]).stdout not in ("", host_id)
    for folder in ("/srv", "/opt", "/mnt", "/home", "/root"):
        code, out, _ = sb.run(["find", folder, "-maxdepth", "3", "-type", "f"])
        assert host_secret.name not in out and out.strip() == "", (folder, out)


def test_an_app_cannot_read_host_files_either(sb, host_secret):
    targets = ["/etc/shadow", "/etc/gshadow", str(host_secret), str(SUITE_FILE), str(TEST_FILE)]
    app = textwrap.dedent(f"""
        import json
        results = {{}}
        for path in {targets!r}:
            try:
                with open(path, "rb") as f:
                    results[path] = f.read().decode(errors="replace")
            except OSError as exc:
                results[path] = "ERROR " + type(exc).__name__
        with open("/tmp/app-view.json", "w") as f:
            json.dump(results, f)
    """)
    sb.launch([sys.executable, "-c", app])
    results = json.loads(poll_file(sb, "/tmp/app-view.json"))
    for path in targets:
        assert results[path].startswith("ERROR "), (path, results[path][:80])


# -- 3. the host never follows the sandbox's symlinks ----------------------------------------------

def test_a_symlinked_log_leaks_nothing_into_the_error(host_secret):
    secret = host_secret.read_text().strip()
    with Sandbox(320, 240) as box:
        attack = textwrap.dedent(f"""
            import os, signal
            for top, dirs, files in os.walk("/tmp"):
                for name in files:
                    if name.endswith(".log"):
                        path = os.path.join(top, name)
                        try:
                            os.unlink(path)
                            os.symlink({str(host_secret)!r}, path)
                        except OSError:
                            pass
            assert os.environ  # then kill the worker, so that the host explains its death from the log
            os.kill({box.worker_pid}, signal.SIGKILL)
        """)
        box.launch([sys.executable, "-c", attack])
        with pytest.raises(SandboxError) as caught:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                box.ping()
                time.sleep(0.05)
        assert "worker died" in str(caught.value)
        assert secret not in str(caught.value)


def test_app_logs_reach_the_host_only_through_the_worker(host_secret):
    secret = host_secret.read_text().strip()
    with Sandbox(320, 240) as box:
        box.launch(["sh", "-c", "echo started-and-failed >&2"])
        deadline = time.monotonic() + 10
        while "started-and-failed" not in box.app_log_tail() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "started-and-failed" in box.app_log_tail()
        box.run(["sh", "-c", f"for f in /tmp/.screenact/logs/*.log; do ln -sf {host_secret} $f; done"])
        assert secret not in box.app_log_tail()


# -- 4 and 5. the channel: frame memory and replies ------------------------------------------------

# An app that truncates every frame buffer it can reach and writes forged replies into every pipe it
# can open: a forged reply that fits both run() and screenshot() makes the host read the frame.
CHANNEL_ATTACK = textwrap.dedent("""
    import json, os, stat, sys
    width, height = int(sys.argv[1]), int(sys.argv[2])
    forged = json.dumps({"ok": True, "result": {"code": 0, "stdout": "forged\\n", "stderr": "", "timed_out": False,
                         "width": width, "height": height, "captured_at": 0, "cursor": [0, 0]}}) + "\\n"
    me = {str(os.getpid())}
    report = []
    for top, _, files in os.walk("/tmp"):
        for name in files:
            if name.endswith(".bgra"):
                try:
                    os.truncate(os.path.join(top, name), 0)
                    report.append("truncated " + name)
                except OSError as exc:
                    report.append(f"{name}: {exc}")
    for pid in (p for p in os.listdir("/proc") if p.isdigit() and p not in me):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError as exc:
            report.append(f"{pid}: {exc.strerror}")
            continue
        for fd in fds:
            path = f"/proc/{pid}/fd/{fd}"
            try:
                target = os.readlink(path)
                if "memfd" in target or target.endswith(".bgra"):
                    f = os.open(path, os.O_RDWR)
                    os.ftruncate(f, 0)
                    report.append(f"truncated {target}")
                elif target.startswith("pipe:"):
                    f = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                    if stat.S_ISFIFO(os.fstat(f).st_mode):
                        os.write(f, forged.encode() * 4)
                        report.append(f"forged into {pid}/{fd}")
            except OSError as exc:
                report.append(f"{path}: {exc.strerror}")
    print(json.dumps(report))
""")

SIGBUS_HOST = textwrap.dedent("""
    import sys
    from sandbox import Sandbox, SandboxError
    attack = sys.argv[1]
    with Sandbox(320, 240) as sb:
        print("attack:", sb.run([sys.executable, "-c", attack, "320", "240"]).stdout.strip(), flush=True)
        for _ in range(3):
            try:
                frame = sb.screenshot()
                print("screenshot", len(frame.bgra), flush=True)
            except SandboxError as exc:
                print("named error:", type(exc).__name__, exc, flush=True)
                break
    print("host alive", flush=True)
""")


def test_truncating_the_frame_memory_never_kills_the_host():
    # The host runs in a child process: a SIGBUS there is an exit status here, not a dead test run.
    done = subprocess.run([sys.executable, "-c", SIGBUS_HOST, CHANNEL_ATTACK], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr[-2000:])
    assert "host alive" in done.stdout
    assert "screenshot 307200" in done.stdout or "named error: SandboxError" in done.stdout, done.stdout


def test_forged_replies_cannot_reach_the_host(sb):
    report = json.loads(sb.run([sys.executable, "-c", CHANNEL_ATTACK, "640", "480"]).stdout)
    denied = [r for r in report if r.startswith(f"/proc/{sb.worker_pid}/fd/") and r.endswith("Permission denied")]
    assert len(denied) >= 3, report  # the worker's descriptors (channel, frame memory) are out of reach
    reached = [r for r in report if r.startswith(f"forged into {sb.worker_pid}/")
               or (r.startswith("truncated") and "log" not in r)]  # the worker's log is no channel
    assert not reached, report
    for word in ("one", "two", "three"):
        assert sb.run(["echo", word]).stdout == f"{word}\n"
    assert len(sb.screenshot().bgra) == 640 * 480 * 4


def test_a_stray_reply_on_the_channel_is_a_named_error():
    # Root on the host could still write into the reply pipe: the request id exposes the stray line.
    with Sandbox(320, 240) as box:
        worker = next(pid for pid, name in sandbox_processes(box.id).items() if name.startswith("python"))
        config = json.loads(Path(f"/proc/{worker}/cmdline").read_bytes().split(b"\0")[-2])
        with open(f"/proc/{worker}/fd/{config['fds']['replies']}", "wb", buffering=0) as pipe:
            pipe.write(b'{"ok": true, "result": {"code": 0, "stdout": "stale\\n", "stderr": "", "timed_out": false}}\n')
        with pytest.raises(SandboxError, match="forged or stale"):
            box.run(["echo", "real"])


# -- 6. limits -------------------------------------------------------------------------------------------

# At most 2**10 processes even with no limit at all; each sleeps, then exits.
FORK_BOMB = "import os, time\nfor _ in range(10):\n    try:\n        os.fork()\n    except OSError:\n        pass\ntime.sleep(30)\n"
MEMORY_HOG = "data = b'x' * (1 << 30)\n"


def wait_for_limit(box: Sandbox, timeout: float = 60.0) -> ResourceLimitExceeded:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            box.ping()
        except ResourceLimitExceeded as exc:
            return exc
        time.sleep(0.05)
    raise AssertionError("the sandbox did not hit its limit")


@pytest.mark.parametrize("program, limits, message", [
    (FORK_BOMB, Limits(processes=64), "process limit"),
    (MEMORY_HOG, Limits(memory_bytes=256 << 20), "ran out of memory"),
], ids=["fork-bomb", "memory-hog"])
def test_a_limit_ends_only_its_own_sandbox(program, limits, message):
    with Sandbox(320, 240) as other, Sandbox(320, 240, limits=limits) as box:
        box.launch([sys.executable, "-c", program])
        exc = wait_for_limit(box)
        assert message in str(exc)
        with pytest.raises(ResourceLimitExceeded):
            box.screenshot()  # the sandbox stays ended
        assert other.run(["echo", "still here"]).stdout == "still here\n"
        assert len(other.screenshot().bgra) == 320 * 240 * 4
        box_id = box.id
    deadline = time.monotonic() + 10
    while sandbox_processes(box_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox_processes(box_id) == {}


def test_tmpfs_and_file_sizes_are_capped():
    with Sandbox(320, 240, limits=Limits(tmpfs_bytes=32 << 20, file_bytes=16 << 20)) as box:
        code, out, err = box.run(["sh", "-c", "dd if=/dev/zero of=/tmp/big bs=1M count=64 2>&1; stat -c %s /tmp/big"])
        assert int(out.split()[-1]) <= 16 << 20
        code, out, err = box.run(["sh", "-c", "for i in 1 2 3; do dd if=/dev/zero of=/tmp/f$i bs=1M count=15 2>/dev/null; done; "
                                  "df -k /tmp | tail -1"])
        assert int(out.split()[1]) <= 32 << 10, out
        box.ping()


def test_limits_are_validated():
    with pytest.raises(ValueError, match="processes"):
        Limits(processes=0)
    with pytest.raises(ValueError, match="memory_bytes"):
        Limits(memory_bytes=1 << 20)


def test_share_exposes_a_host_path_read_only(host_secret):
    with Sandbox(320, 240, share=[host_secret]) as box:
        assert box.run(["cat", str(host_secret)]).stdout == host_secret.read_text()
        assert box.run(["sh", "-c", f"echo x >> {host_secret}"]).code != 0
    with pytest.raises(ValueError, match="share"):
        Sandbox(320, 240, share=["relative/path"])
