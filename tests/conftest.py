"""Shared fixtures: real sandboxes (Xvfb + openbox + worker under bubblewrap) and the probe app."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from sandbox import Sandbox

TESTS = Path(__file__).resolve().parent
ARTIFACTS = TESTS.parent / "test-artifacts"


class Probe:
    """The probe app running in a sandbox, and the events it logged."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.LOG = f"/tmp/probe-{sb.id}.jsonl"  # unique: an unisolated sandbox shares the host's /tmp
        self.app = sb.launch([sys.executable, "-c", (TESTS / "probe_app.py").read_text(), self.LOG])  # tests/ is not visible inside
        self.ready = self.wait_for(lambda e: e["ev"] == "ready")

    def events(self) -> list[dict]:
        try:
            raw = self.sb.read_file(self.LOG).decode()
        except Exception:
            return []
        return [json.loads(line) for line in raw.splitlines() if line.endswith("}")]

    def wait_for(self, predicate, timeout: float = 10.0, after: int = 0) -> dict:
        """The first event (from index ``after``) matching ``predicate``, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events()[after:]:
                if predicate(event):
                    return event
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching probe event within {timeout} s; last: {self.events()[-5:]}")
            time.sleep(0.01)

    def mark(self) -> int:
        """Index to pass as ``after`` so that only newer events count."""
        return len(self.events())

    def text(self) -> str:
        texts = [e for e in self.events() if e["ev"] == "text"]
        return texts[-1]["value"] if texts else ""


@pytest.fixture
def sandbox_1280():
    with Sandbox(1280, 800) as sb:
        yield sb


@pytest.fixture
def probe_1280(sandbox_1280):
    return Probe(sandbox_1280)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
