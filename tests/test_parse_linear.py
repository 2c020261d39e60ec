"""Every reader of model text runs in linear time, whatever the reply (issue 11, item 7).

The readers are every parser, grounding-point reader, prompt helper and UI text helper
(``tests/hostile_replies.READERS``). The time bound is relative, measured on the same run in CPU time,
so a busy machine does not make it flaky: a reader may take at most 300 plain Python passes over the
reply plus 50 times its own cost on a typical reply. A quadratic reader at 16k characters needs
thousands of such passes, a cubic one millions (the patterns this replaced took 5 s on 1.2k
characters); a linear one needs a handful. A watchdog turns a runaway into a failure naming the reader
instead of a hung test run. The absolute figure (50 ms at the 200k reply cap) is printed by
``bench/bench_parse.py``.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings

from tests.hostile_replies import NAMED, READERS, hostile, hostile_replies
from tools.parse import MAX_REPLY_CHARS, ParseError, ReplyTooLong, parse

TYPICAL = (
    "◁think▷The File menu is at the top-left corner, so I open it first.◁/think▷## Action:\n"
    "Click the \"File\" menu in the top-left corner.\n\n## Code:\n```python\npyautogui.click(x=0.204, y=0.149)\n```"
)
WATCHDOG_S = 30.0  # far above any linear reader on a loaded machine, far below a quadratic one at 16k


class Runaway(BaseException):
    """A reader still running when the watchdog fired (not an Exception, which the parsers would catch)."""


@contextmanager
def watchdog(name: str) -> Iterator[None]:
    """Fail instead of hanging when ``name`` runs away (Python's regex engine checks for signals)."""
    def fire(signum: int, frame: object) -> None:
        raise Runaway(f"{name} was still running after {WATCHDOG_S:g} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, WATCHDOG_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def timed(fn: Callable[[str], object], text: str, runs: int = 1) -> float:
    """The fastest of ``runs`` runs of ``fn(text)``, in seconds of this process's CPU time (what other
    processes do to the machine changes it far less than the wall clock)."""
    best = float("inf")
    for _ in range(runs):
        start = time.process_time()
        fn(text)
        best = min(best, time.process_time() - start)
    return best


def python_pass(text: str) -> None:
    for _ in text:
        pass


@cache
def typical_cost(name: str) -> float:
    return timed(READERS[name], TYPICAL, runs=20)


def allowance(name: str, text: str) -> float:
    """The time ``name`` may take on ``text``: linear in its length, measured on this run."""
    return 300 * timed(python_pass, text, runs=3) + 50 * typical_cost(name)


def assert_linear(name: str, text: str) -> None:
    """``READERS[name]`` reads ``text`` within its allowance (measured again before failing)."""
    reader = READERS[name]
    with watchdog(name):
        spent = timed(reader, text)
        if spent > allowance(name, text):  # once more, so a moment of load cannot fail the test
            spent = timed(reader, text, runs=3)
    limit = allowance(name, text)
    assert spent <= limit, f"{name} took {spent * 1e3:.1f} ms on a {len(text)}-character reply (allowed {limit * 1e3:.1f} ms)"


# ---------------------------------------------------------------------- the cases of issue 11
@pytest.mark.parametrize("shape", [("WAIT", " ", "x"), ("", " ", "x"), ("## Code:\nDONE", "\t", "!x"), ("x=1,", " ", "y")])
def test_kimi_vl_reads_a_16k_whitespace_run_in_linear_time(shape: tuple[str, str, str]) -> None:
    text = hostile(*shape, size=16_000)
    assert_linear("parse kimi-vl", text)
    assert_linear("parse_point kimi-vl", text)


@pytest.mark.parametrize("shape", [("done", "\t", "x"), ("WAIT`", " ", "x"), ("x", " ", "DONE x")])
def test_computer_13_reads_a_1200_character_whitespace_run_in_linear_time(shape: tuple[str, str, str]) -> None:
    text = hostile(*shape, size=1_200)
    assert_linear("parse computer_13", text)
    with pytest.raises(ParseError):
        parse(text, "computer_13")


@pytest.mark.parametrize("name", ["point_in_text", "prompts.action_line", "ui md_escape", "ui ThinkingStream"])
@pytest.mark.parametrize("shape", [("<point>", " ", "x"), ("<|box_start|>(1,2)", " ", "x"), ("## Action:", "\n", "x"), ("x", "\n", "#")])
def test_prompt_and_ui_helpers_read_whitespace_runs_in_linear_time(name: str, shape: tuple[str, str, str]) -> None:
    assert_linear(name, hostile(*shape, size=16_000))


# ---------------------------------------------------------------------- every reader, any hostile reply
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=hostile_replies(16_000))
def test_every_reader_reads_any_hostile_reply_in_linear_time(parts: tuple[str, str, str]) -> None:
    text = hostile(*parts, size=16_000)
    for name in READERS:
        assert_linear(name, text)


@pytest.mark.parametrize("shape", list(NAMED), ids=list(NAMED))
def test_every_reader_reads_the_named_shapes_at_the_reply_cap(shape: str) -> None:
    text = hostile(*NAMED[shape], size=MAX_REPLY_CHARS)
    for name in READERS:
        assert_linear(name, text)


def test_a_reply_over_the_cap_is_refused_by_name_with_the_cap_in_its_message() -> None:
    with pytest.raises(ReplyTooLong) as info:
        parse("x" * (MAX_REPLY_CHARS + 1), "kimi-vl")
    assert info.value.cap == MAX_REPLY_CHARS and str(MAX_REPLY_CHARS) in str(info.value)
    assert "Nothing was executed" in str(info.value)
    assert isinstance(info.value, ParseError)  # the loop tells the model, like any unusable reply
