"""``screenact doctor``'s checks: what this machine has and lacks for a sandboxed desktop, each with its fix.

A check is a function of the parsed flags that yields :class:`Finding` s; :func:`check` registers it in
:data:`CHECKS`, in the order ``doctor`` prints them. Modules named in :data:`CHECK_MODULES` are imported
by ``screenact doctor`` before it runs the registry, and may define ``add_flags(parser)`` for flags of
their own (the Ray checks live with the cluster code and add ``--ray`` there). A finding is ``ok``,
``missing`` (the machine cannot do what screenact needs: exit 1) or ``optional`` (an extra for one
feature is not installed: said with its fix, never a failure).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Status = Literal["ok", "missing", "optional"]

CHECK_MODULES: list[str] = ["agent.doctor", "agent.cluster.doctor"]
"""Modules whose import registers checks (and whose ``add_flags(parser)``, if any, adds doctor flags)."""


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's report: what was looked at, how it stands, and the command that fixes it."""

    name: str
    status: Status
    detail: str
    fix: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class Check:
    """A registered check: ``run(args)`` yields findings; ``applies(args)`` says whether the flags ask for it."""

    name: str
    run: Callable[[argparse.Namespace], Iterable[Finding]]
    applies: Callable[[argparse.Namespace], bool]


CHECKS: list[Check] = []
"""Every registered check, in the order they run."""


def check(name: str, *, applies: Callable[[argparse.Namespace], bool] | None = None
          ) -> Callable[[Callable[[argparse.Namespace], Iterable[Finding]]], Callable[[argparse.Namespace], Iterable[Finding]]]:
    """Register ``fn(args) -> Iterable[Finding]`` under ``name`` (once: a second registration replaces it)."""

    def register(fn: Callable[[argparse.Namespace], Iterable[Finding]]) -> Callable[[argparse.Namespace], Iterable[Finding]]:
        entry = Check(name, fn, applies or (lambda _args: True))
        for i, existing in enumerate(CHECKS):
            if existing.name == name:
                CHECKS[i] = entry
                return fn
        CHECKS.append(entry)
        return fn

    return register


def run_checks(args: argparse.Namespace) -> Iterator[Finding]:
    """Every finding of every registered check the flags ask for, as each check completes; a check that
    crashes is a ``missing`` finding naming the crash, never the end of the report."""
    for entry in CHECKS:
        if not entry.applies(args):
            continue
        try:
            yield from entry.run(args)
        except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
            yield Finding(entry.name, "missing", f"the check failed: {type(exc).__name__}: {exc}")


APT = "apt-get install -y "


def apt(*packages: str) -> str:
    """The command that installs Debian packages."""
    return APT + " ".join(packages)


def fix_commands(findings: Iterable[Finding]) -> list[str]:
    """The fixes of what is missing, each once, the Debian packages in one ``apt-get install``."""
    packages: list[str] = []
    others: list[str] = []
    for f in findings:
        if f.status != "missing" or not f.fix:
            continue
        if f.fix.startswith(APT):
            packages += [p for p in f.fix[len(APT):].split() if p not in packages]
        elif f.fix not in others:
            others.append(f.fix)
    return ([apt(*packages)] if packages else []) + others


def pip_extra(extra: str) -> str:
    """The command that installs one of screenact's optional extras into the Python running it."""
    return f"{sys.executable} -m pip install 'screenact[{extra}]'"


# ------------------------------------------------------------------------------------------ the desktop
def _read_sysctl(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def userns_fixes() -> list[str]:
    """The kernel settings that keep unprivileged user namespaces off here, each as the command that turns
    them on (empty when none is found)."""
    fixes = []
    if _read_sysctl("/proc/sys/user/max_user_namespaces") == "0":
        fixes.append("sysctl -w user.max_user_namespaces=10000")
    if os.geteuid() != 0 and _read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == "0":
        fixes.append("sysctl -w kernel.unprivileged_userns_clone=1")
    if os.geteuid() != 0 and _read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
        fixes.append("sysctl -w kernel.apparmor_restrict_unprivileged_userns=0")
    return fixes


@check("bubblewrap")
def _bubblewrap(_args: argparse.Namespace) -> Iterator[Finding]:
    from sandbox import bwrap_problem

    if shutil.which("bwrap") is None:
        yield Finding("bubblewrap", "missing", "bwrap is not on PATH: the desktops cannot be isolated", apt("bubblewrap"))
        return
    problem = bwrap_problem()
    if problem is None:
        yield Finding("bubblewrap", "ok", "bwrap creates the user, PID, network, IPC and UTS namespaces a sandbox uses")
        return
    fixes = userns_fixes()
    yield Finding("user namespaces", "missing", problem,
                  " && ".join(fixes) if fixes else "enable unprivileged user namespaces in the kernel (or in the "
                  "container: docker run --security-opt seccomp=unconfined, or --privileged)")


@check("desktop programs")
def _desktop_programs(_args: argparse.Namespace) -> Iterator[Finding]:
    from agent.commands._common import DESKTOP_PROGRAMS

    roles = {"Xvfb": "the X server", "openbox": "the window manager"}
    for exe, package in DESKTOP_PROGRAMS.items():
        path = shutil.which(exe)
        role = roles.get(exe, "a desktop program")
        yield (Finding(exe, "ok", f"{role}: {path}") if path else
               Finding(exe, "missing", f"{role} is not on PATH", apt(package)))


def font_families(pattern: str = "") -> list[str] | None:
    """Font families fontconfig knows that match ``pattern`` (e.g. ``:lang=zh``); None without fontconfig."""
    exe = shutil.which("fc-list")
    if exe is None:
        return None
    done = subprocess.run([exe, pattern or ":", "family"], capture_output=True, text=True, timeout=30)
    return sorted({line.split(",")[0].strip() for line in done.stdout.splitlines() if line.strip()})


@check("fonts")
def _fonts(_args: argparse.Namespace) -> Iterator[Finding]:
    every = font_families()
    if every is None:
        yield Finding("fonts", "missing", "fontconfig (fc-list) is not installed: apps find no fonts",
                      apt("fontconfig", "fonts-dejavu-core", "fonts-noto-cjk"))
        return
    yield (Finding("fonts", "ok", f"{len(every)} families, e.g. {', '.join(every[:2])}") if every else
           Finding("fonts", "missing", "no font is installed: apps draw no text", apt("fonts-dejavu-core")))
    cjk = font_families(":lang=zh")
    yield (Finding("CJK fonts", "ok", f"{cjk[0]} and {len(cjk) - 1} more") if cjk else
           Finding("CJK fonts", "missing", "no font covers Chinese: apps draw 你好 as boxes or blanks",
                   apt("fonts-noto-cjk")))


@check("Tk")
def _tk(_args: argparse.Namespace) -> Iterator[Finding]:
    # the bundled apps run under this same interpreter inside the sandbox; a child process, so a broken
    # Tcl/Tk cannot take the doctor down with it
    done = subprocess.run([sys.executable, "-c", "import tkinter; print(tkinter.TkVersion)"],
                          capture_output=True, text=True, timeout=60)
    if done.returncode == 0:
        yield Finding("Tk", "ok", f"tkinter {done.stdout.strip()} in {sys.executable}")
    else:
        last = (done.stderr.strip().splitlines() or ["import failed"])[-1]
        yield Finding("Tk", "missing", f"{sys.executable} cannot import tkinter, so the bundled apps cannot run "
                      f"({last})", apt("python3-tk"))


OCR_MODEL_GLOB = "*.onnx"


@check("OCR models")
def _ocr(_args: argparse.Namespace) -> Iterator[Finding]:
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        yield Finding("OCR models", "missing", "RapidOCR is not installed: the embedded grounder (demo, run --mode "
                      "scripted) cannot read the screen", pip_extra("ocr"))
        return
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    models = [p for p in sorted(folder.glob(OCR_MODEL_GLOB)) if p.stat().st_size > 0]
    if not models:
        yield Finding("OCR models", "missing", f"RapidOCR has no models in {folder}",
                      f"{sys.executable} -m pip install --force-reinstall rapidocr-onnxruntime")
        return
    yield Finding("OCR models", "ok", f"{len(models)} RapidOCR models in {folder}")


EXTRAS: dict[str, tuple[tuple[str, ...], str]] = {
    "ray": (("ray",), "screenact run --ray: tasks on a Ray cluster"),
    "ui": (("chainlit",), "screenact ui: the browser front end"),
    "mcp": (("mcp",), "screenact mcp: the desktop as an MCP server"),
    "view": (("uvicorn", "starlette", "wsproto"), "screenact sandbox --view: the live view's server"),
}
"""Optional extras: the modules each brings, and what it is for."""


@check("extras")
def _extras(_args: argparse.Namespace) -> Iterator[Finding]:
    for extra, (modules, purpose) in EXTRAS.items():
        absent = [m for m in modules if importlib.util.find_spec(m) is None]
        name = f"extra [{extra}]"
        yield (Finding(name, "ok", f"installed ({purpose})") if not absent else
               Finding(name, "optional", f"not installed (only for {purpose})", pip_extra(extra)))


@check("live view programs")
def _live_view(_args: argparse.Namespace) -> Iterator[Finding]:
    from agent.live_view import NOVNC_DIR

    have = {"x11vnc": shutil.which("x11vnc") is not None, "novnc": (NOVNC_DIR / "vnc_lite.html").is_file()}
    absent = [pkg for pkg, present in have.items() if not present]
    yield (Finding("x11vnc, noVNC", "ok", f"x11vnc and noVNC in {NOVNC_DIR} (the live view)") if not absent else
           Finding("x11vnc, noVNC", "optional", f"{' and '.join(absent)} not installed (only for the live view)",
                   apt(*absent)))


@check("video recording")
def _video(_args: argparse.Namespace) -> Iterator[Finding]:
    from agent.video import video_problem

    yield (Finding("ffmpeg", "ok", "ffmpeg (--record-video)") if video_problem() is None else
           Finding("ffmpeg", "optional", "not installed (only for --record-video)", apt("ffmpeg")))


# ------------------------------------------------------------------------------------------ the model server
def _wants_server(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "base_url", None))


@check("model server", applies=_wants_server)
def _model_server(args: argparse.Namespace) -> Iterator[Finding]:
    from agent.commands._common import endpoints
    from agent.models.server_pool import probe_server

    for url in endpoints(args):
        problem, detail = asyncio.run(probe_server(url, getattr(args, "model", None)))
        yield (Finding(f"server {url}", "ok", detail) if problem is None else
               Finding(f"server {url}", "missing", problem,
                       "start it (e.g. `screenact serve --profile PROFILE --model PATH` on that host), or fix --base-url"))
