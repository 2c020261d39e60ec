"""Every code block of README.md works as written: the Python ones run (against the real stub model server),
every shell command parses with the real ``screenact`` parser (or names a real make target)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import build_parser
from tests.stub_openai import StubOpenAI
from tests.test_cli_checks import screenact

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def blocks(language: str) -> list[tuple[str, str]]:
    """(id, code) of every fenced block in ``language``; the id names the section it is in."""
    found, section = [], "top"
    for m in re.finditer(r"^## ([^\n]+)$|^```(\w*)\n(.*?)^```$", README.read_text(encoding="utf-8"), re.M | re.S):
        if m[1]:
            section = re.sub(r"\W+", "-", m[1].strip().lower()).strip("-")
        elif m[2] == language:
            found.append((f"{section}-{len(found)}", m[3]))
    return found


def commands(code: str) -> list[str]:
    """The commands of a shell block: continuation lines joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", code)
    return [line for line in joined.splitlines() if shlex.split(line, comments=True)]


PY = blocks("python")
SH = blocks("sh")


def test_the_readme_has_the_blocks_this_test_expects():
    assert len(PY) >= 2 and len(SH) >= 5, (PY, SH)


@pytest.mark.parametrize("code", [c for _, c in PY], ids=[i for i, _ in PY])
def test_python_block_runs_as_written(code, tmp_path):
    """Run in a fresh folder (what it writes stays there) with the stub as the model server the README exports."""
    done = "◁think▷Nothing left to do.◁/think▷## Action:\nDone.\n\n## Code:\n```python\nDONE\n```"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with StubOpenAI(responder=lambda body: done) as stub:
        env["OPENAI_BASE_URL"] = stub.base_url
        proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    if "shot.png" in code:
        assert_shows_the_typed_lines(tmp_path / "shot.png")
    if "run_episode" in code:
        assert (tmp_path / "runs" / "ep-001" / "result.json").is_file()


def assert_shows_the_typed_lines(png: Path) -> None:
    """The saved screenshot shows the command and its output, not an empty terminal: at least three text lines
    (the command, what it printed, the next prompt) in the xterm's top-left corner."""
    from PIL import Image

    with Image.open(png) as img:
        grey = img.convert("L").crop((3, 24, 500, 200))  # inside the window border, under the title
    width = grey.size[0]
    rows = [any(grey.getpixel((x, y)) < 100 for x in range(width)) for y in range(grey.size[1])]
    bands = sum(1 for y in range(1, len(rows)) if rows[y] and not rows[y - 1])
    assert bands >= 3, f"{png} shows {bands} text line(s): the screenshot was taken before the terminal drew"


@pytest.mark.parametrize("code", [c for _, c in SH], ids=[i for i, _ in SH])
def test_shell_block_commands_parse(code):
    parser = build_parser()
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for line in commands(code):
        argv = shlex.split(line, comments=True)
        if argv[0] == "make":
            for target in argv[1:]:
                assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"no make target {target!r}: {line}"
        elif argv[0] == "export":
            assert all(re.fullmatch(r"\w+=\S*", a) for a in argv[1:]), line
        elif argv[0] == ".venv/bin/ray":  # a cluster's own commands (start, stop): Ray's parser must take them
            assert_ray_parses(argv[1:], line)
        else:
            assert argv[0] == ".venv/bin/screenact", f"a README command outside screenact: {line}"
            try:
                parser.parse_args(argv[1:])
            except SystemExit as exc:
                pytest.fail(f"{line!r} does not parse (exit {exc.code})")


def assert_ray_parses(args: list[str], line: str) -> None:
    import click
    from ray.scripts.scripts import cli

    try:
        cli.get_command(click.Context(cli), args[0]).make_context(args[0], args[1:])
    except (click.ClickException, AttributeError) as exc:
        pytest.fail(f"{line!r} is not a ray command Ray takes: {exc}")


def test_every_subcommand_has_help():
    """``screenact COMMAND --help`` works for every command the README's table lists."""
    table = re.findall(r"^\| `screenact ([a-z-]+)", README.read_text(encoding="utf-8"), re.M)
    assert len(table) >= 9
    for i, name in enumerate(table):  # the first through the real command, the rest through its main
        proc = screenact(name, "--help", in_process=i > 0)
        assert proc.returncode == 0 and "usage: screenact " + name in proc.stdout, (name, proc.stderr)
