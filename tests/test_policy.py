"""tools.keys and tools.policy: key aliases, the deny-list, bounds, and that check never raises."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.actions import Click, Done, Drag, Fail, Key, KeyDown, KeyUp, MouseDown, MouseUp, Move, Scroll, TypeText, Wait
from tools.keys import KEY_NAMES, canonical_key, split_combo
from tools.policy import DEFAULT_DENY, Policy, Rejection, parse_combo

W, H = 1920, 1080


# -- key names ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "name, canonical",
    [
        ("ctrl", "ctrl"), ("Control", "ctrl"), ("CTRL", "ctrl"), ("ctl", "ctrl"), ("Control_L", "ctrlleft"),
        ("cmd", "win"), ("super", "win"), ("Meta", "win"), ("win", "win"), ("command", "win"), ("Super_L", "winleft"),
        ("option", "alt"), ("Alt", "alt"), ("Return", "enter"), ("enter", "enter"), ("\n", "enter"),
        ("Escape", "esc"), ("esc", "esc"), ("PgUp", "pageup"), ("Page_Up", "pageup"), ("page up", "pageup"),
        ("Prior", "pageup"), ("pgdn", "pagedown"), ("Next", "pagedown"), ("del", "delete"), ("Delete", "delete"),
        ("ArrowLeft", "left"), ("arrowup", "up"), ("Left", "left"), ("space", "space"), (" ", "space"),
        ("spacebar", "space"), ("\t", "tab"), ("BackSpace", "backspace"), ("F5", "f5"), ("f24", "f24"),
        ("KP_Enter", "enter"), ("PrtSc", "printscreen"), ("Menu", "apps"), ("plus", "+"), ("a", "a"), ("A", "A"),
        ("7", "7"), ("+", "+"), ("é", "é"), ("/", "/"),
    ],
)
def test_canonical_key(name: str, canonical: str) -> None:
    assert canonical_key(name) == canonical
    assert canonical_key(canonical) == canonical or len(canonical) == 1


@pytest.mark.parametrize("name", ["hyperx", "", "ctrl+c", "f25", "\x00", "\x1b", "rm -rf", None, 5, "x" * 100])
def test_not_keys(name: object) -> None:
    assert canonical_key(name) is None


def test_every_canonical_name_is_its_own_canonical_form() -> None:
    assert all(canonical_key(k) == k for k in KEY_NAMES)
    assert {"ctrl", "alt", "shift", "win", "enter", "esc", "pageup", "left", "f1", "f24"} <= KEY_NAMES


def test_split_combo() -> None:
    assert split_combo("ctrl+shift+t") == ["ctrl", "shift", "t"]
    assert split_combo("ctrl shift t") == ["ctrl", "shift", "t"]
    assert split_combo("ctrl + c") == ["ctrl", "c"]
    assert split_combo("ctrl++") == ["ctrl", "+"]
    assert split_combo("+") == ["+"]


# -- keys through the policy --------------------------------------------------------------------------

def test_key_names_become_canonical_in_a_new_object() -> None:
    action = Key(keys=["Control", "Return"])
    checked = Policy().check(action, W, H)
    assert checked == Key(keys=["ctrl", "enter"]) and checked is not action
    assert action.keys == ["Control", "Return"]
    assert Policy().check(Key(keys=["ctrl+Shift+T"]), W, H) == Key(keys=["ctrl", "shift", "T"])
    assert Policy().check(KeyDown(key="Shift_L"), W, H) == KeyDown(key="shiftleft")
    assert Policy().check(KeyUp(key="CMD"), W, H) == KeyUp(key="win")


def test_unknown_key_is_rejected_with_a_usable_message() -> None:
    result = Policy().check(Key(keys=["ctrl", "hyperx"]), W, H)
    assert isinstance(result, Rejection)
    assert "'hyperx' is not a key I can press" in result.message and "ctrl" in result.message and "enter" in result.message
    assert result.action == {"type": "key", "keys": ["ctrl", "hyperx"]}
    assert isinstance(Policy().check(KeyDown(key="warp"), W, H), Rejection)


@pytest.mark.parametrize(
    "keys",
    [
        ["ctrl", "alt", "delete"], ["Delete", "ALT", "control"], ["ctrl+alt+del"], ["ctrl", "alt", "shift", "del"],
        ["ctrlleft", "altright", "delete"], ["ctrl", "alt", "backspace"], ["ctrl", "alt", "f1"], ["alt", "ctrl", "F12"],
        ["ctrl", "alt", "F7"],
    ],
)
def test_default_deny_list(keys: list[str]) -> None:
    result = Policy().check(Key(keys=keys), W, H)
    assert isinstance(result, Rejection) and "not allowed" in result.message


def test_allowed_combinations_pass() -> None:
    for keys in (["ctrl", "alt", "t"], ["ctrl", "alt", "f13"], ["alt", "f4"], ["ctrl", "delete"], ["shift", "f1"]):
        assert not isinstance(Policy().check(Key(keys=keys), W, H), Rejection), keys


def test_custom_deny_list() -> None:
    policy = Policy(deny=("alt+f4", "super+l"))
    assert isinstance(policy.check(Key(keys=["F4", "Alt"]), W, H), Rejection)
    assert isinstance(policy.check(Key(keys=["cmd", "L"]), W, H), Rejection)
    assert not isinstance(policy.check(Key(keys=["ctrl", "alt", "delete"]), W, H), Rejection)
    with pytest.raises(ValueError, match="not a key"):
        Policy(deny=("ctrl+hyperx",))
    assert parse_combo("ctrl+alt+del") == frozenset({"ctrl", "alt", "delete"})
    assert len(DEFAULT_DENY) == 14


def test_denied_combination_cannot_be_assembled_with_key_down() -> None:
    policy = Policy()
    assert policy.check(KeyDown(key="ctrl"), W, H) == KeyDown(key="ctrl")
    assert policy.check(KeyDown(key="alt"), W, H) == KeyDown(key="alt")
    assert isinstance(policy.check(Key(keys=["delete"]), W, H), Rejection)
    assert isinstance(policy.check(KeyDown(key="del"), W, H), Rejection)
    assert policy.check(KeyUp(key="alt"), W, H) == KeyUp(key="alt")
    assert policy.check(Key(keys=["delete"]), W, H) == Key(keys=["delete"])
    policy.check(KeyDown(key="alt"), W, H)
    policy.reset()
    assert policy.check(Key(keys=["delete"]), W, H) == Key(keys=["delete"])


def test_too_many_keys_at_once() -> None:
    assert isinstance(Policy().check(Key(keys=["ctrl", "alt", "shift", "win", "a"]), W, H), Rejection)
    assert not isinstance(Policy(max_combo=5).check(Key(keys=["ctrl", "alt", "shift", "win", "a"]), W, H), Rejection)


# -- pointer bounds, text, clicks, waits ----------------------------------------------------------------

def test_pointer_actions_must_be_on_screen() -> None:
    p = Policy()
    assert p.check(Click(x=1919, y=1079), W, H) == Click(x=1919, y=1079)
    assert p.check(Click(x=0, y=0), W, H) == Click(x=0, y=0)
    off = p.check(Click(x=1920, y=10), W, H)
    assert isinstance(off, Rejection) and "outside the 1920x1080 screen" in off.message
    assert isinstance(p.check(Move(x=-1, y=5), W, H), Rejection)
    assert isinstance(p.check(Drag(x1=10, y1=10, x2=10, y2=1080), W, H), Rejection)
    assert isinstance(p.check(Scroll(dy=-3, x=5000, y=5), W, H), Rejection)
    assert p.check(Scroll(dy=-3), W, H) == Scroll(dy=-3)
    assert isinstance(p.check(Click(x=5, y=5), 0, 1080), Rejection)


def test_scroll_amount_is_bounded() -> None:
    assert isinstance(Policy().check(Scroll(dy=-51), W, H), Rejection)
    assert Policy().check(Scroll(dx=50), W, H) == Scroll(dx=50)
    assert isinstance(Policy(max_scroll=5).check(Scroll(dy=6), W, H), Rejection)


def test_text_rules() -> None:
    p = Policy()
    assert p.check(TypeText(text="x" * 2000), W, H) == TypeText(text="x" * 2000)
    long = p.check(TypeText(text="x" * 2001), W, H)
    assert isinstance(long, Rejection) and "2000" in long.message
    assert isinstance(Policy(max_text=10).check(TypeText(text="x" * 11), W, H), Rejection)
    assert p.check(TypeText(text="line 1\nline 2\tTab 你好\u3000世界 😀"), W, H).type == "type"
    ctrl = p.check(TypeText(text="evil\x1b[31m"), W, H)
    assert isinstance(ctrl, Rejection) and "control character" in ctrl.message
    assert isinstance(p.check(TypeText(text=""), W, H), Rejection)
    assert isinstance(p.check(Done(answer="a" * 2001), W, H), Rejection)
    assert p.check(Fail(reason="no such menu"), W, H) == Fail(reason="no such menu")


def test_clicks_are_one_to_three() -> None:
    assert Policy().check(Click(x=1, y=1, clicks=3), W, H).clicks == 3
    forged = Click(x=1, y=1).model_copy(update={"clicks": 7})  # bypasses pydantic validation
    assert isinstance(Policy().check(forged, W, H), Rejection)
    assert isinstance(Policy(max_clicks=2).check(Click(x=1, y=1, clicks=3), W, H), Rejection)


def test_waits_are_bounded() -> None:
    assert Policy().check(Wait(seconds=60), W, H) == Wait(seconds=60)
    late = Policy().check(Wait(seconds=61), W, H)
    assert isinstance(late, Rejection) and "60" in late.message
    assert isinstance(Policy(max_wait=5).check(Wait(seconds=6), W, H), Rejection)


def test_mouse_buttons_pass() -> None:
    assert Policy().check(MouseDown(button="right"), W, H) == MouseDown(button="right")
    assert Policy().check(MouseUp(), W, H) == MouseUp()


# -- the confirm hook -------------------------------------------------------------------------------

def test_confirm_hook_sees_the_checked_action_and_can_veto() -> None:
    seen = []

    def confirm(action: object) -> bool:
        seen.append(action)
        return not isinstance(action, Key)

    p = Policy(confirm=confirm)
    assert p.check(Click(x=5, y=5), W, H) == Click(x=5, y=5)
    vetoed = p.check(Key(keys=["Return"]), W, H)
    assert isinstance(vetoed, Rejection) and "declined" in vetoed.message
    assert seen == [Click(x=5, y=5), Key(keys=["enter"])]
    p.check(Click(x=99999, y=5), W, H)
    assert len(seen) == 2  # not asked about actions the policy already refused


def test_confirm_hook_that_raises_is_a_rejection() -> None:
    def broken(action: object) -> bool:
        raise RuntimeError("operator console offline")

    assert isinstance(Policy(confirm=broken).check(Wait(seconds=1), W, H), Rejection)


# -- never raises ------------------------------------------------------------------------------------

_num = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6) | st.integers(-10**6, 10**6)
_text = st.text(max_size=60)
any_action = st.one_of(
    st.builds(Click, x=_num, y=_num, button=st.sampled_from(["left", "right", "middle"]), clicks=st.integers(1, 3)),
    st.builds(Move, x=_num, y=_num),
    st.builds(Drag, x1=_num, y1=_num, x2=_num, y2=_num),
    st.builds(Scroll, dx=st.integers(-1000, 1000), dy=st.integers(-1000, 1000), x=st.none() | _num, y=st.none() | _num),
    st.builds(TypeText, text=st.text(max_size=3000)),
    st.builds(Key, keys=st.lists(_text, min_size=1, max_size=6)),
    st.builds(KeyDown, key=_text),
    st.builds(KeyUp, key=_text),
    st.builds(Wait, seconds=st.floats(0, 1e6)),
    st.builds(Done, answer=st.none() | _text),
    st.builds(Fail, reason=st.none() | _text),
    st.builds(MouseDown, button=st.sampled_from(["left", "right", "middle"])),
)
forged = st.tuples(any_action, st.dictionaries(st.sampled_from(["x", "y", "clicks", "keys", "key", "text", "seconds", "dx"]),
                                               st.none() | st.integers() | st.floats() | _text | st.lists(_text), max_size=3))


@settings(max_examples=500, deadline=None)
@given(action=any_action, screen=st.tuples(st.integers(-5, 4000), st.integers(-5, 4000)))
def test_check_never_raises(action: object, screen: tuple[int, int]) -> None:
    result = Policy().check(action, *screen)  # type: ignore[arg-type]
    assert isinstance(result, (Rejection, type(action)))
    if not isinstance(result, Rejection) and isinstance(result, Key):
        assert all(canonical_key(k) == k for k in result.keys)


@settings(max_examples=300, deadline=None)
@given(pair=forged)
def test_check_never_raises_even_for_forged_actions(pair: tuple[object, dict]) -> None:
    action, update = pair
    bad = action.model_copy(update=update)  # type: ignore[attr-defined]
    result = Policy().check(bad, W, H)
    assert isinstance(result, (Rejection, type(action)))


@pytest.mark.parametrize("thing", [None, 1, "click", {"type": "click", "x": 1, "y": 2}, object()])
def test_non_actions_are_rejected(thing: object) -> None:
    assert isinstance(Policy().check(thing, W, H), Rejection)  # type: ignore[arg-type]


# -- one reply as a plan (issue 11, item 8) ------------------------------------------------------------

def test_a_combination_is_counted_after_it_is_split_into_keys() -> None:
    for keys in (["ctrl+shift+alt+a+b+c"], ["ctrl shift alt a b c"], ["ctrl+shift", "alt+a+b+c"]):
        result = Policy().check(Key(keys=keys), W, H)
        assert isinstance(result, Rejection) and "at most 4 keys together, not 6" in result.message, keys
    assert Policy().check(Key(keys=["ctrl+shift+alt+a"]), W, H) == Key(keys=["ctrl", "shift", "alt", "a"])


def test_a_reply_may_ask_for_at_most_max_reply_wait_seconds_of_waiting_in_all() -> None:
    policy = Policy()
    assert policy.max_reply_wait == 30.0
    refused = policy.check_reply([Wait(seconds=60)] * 64)  # each wait alone is allowed (max_wait 60)
    assert isinstance(refused, Rejection)
    assert "3840 seconds in all" in refused.message and "at most 30 seconds" in refused.message
    assert "none of its actions ran" in refused.message and refused.action == Wait(seconds=60).model_dump()
    assert policy.check_reply([Wait(seconds=3)] * 10 + [Click(x=1, y=1)]) is None  # 30 s: at the cap
    past = policy.check_reply([Wait(seconds=20), Click(x=1, y=1), Wait(seconds=11), Wait(seconds=1)])
    assert past is not None and past.action == Wait(seconds=11).model_dump() and "32 seconds" in past.message
    assert Policy(max_reply_wait=100).check_reply([Wait(seconds=60)]) is None


def test_the_cap_on_a_replys_waiting_is_a_profile_setting() -> None:
    from agent.profiles import get_profile

    profile = get_profile("kimi-vl-thinking")
    assert profile.max_reply_wait_s == 30.0 and profile.policy().max_reply_wait == 30.0
    strict = profile.with_(max_reply_wait_s=5.0).policy()
    refused = strict.check_reply([Wait(seconds=3), Wait(seconds=3)])
    assert refused is not None and "at most 5 seconds" in refused.message


def test_a_reply_queueing_64_minute_waits_runs_none_of_them_and_the_model_is_told_the_cap(tmp_path) -> None:
    """Through the real loop: a real sandbox, a real HTTP server answering as Kimi-VL does."""
    import asyncio
    import json
    import time
    from types import SimpleNamespace

    from agent.episode import load_episode
    from agent.loop import Agent
    from agent.models import OpenAIModel, RetryPolicy
    from agent.profiles import get_profile
    from sandbox import Sandbox
    from tests.stub_openai import StubOpenAI

    def kimi(code: str) -> str:
        return f"◁think▷Wait for it.◁/think▷## Action:\nWait.\n\n## Code:\n```python\n{code}\n```"

    replies = [kimi("time.sleep(60)\n" * 64), kimi("DONE")]
    with Sandbox(640, 480) as sb, StubOpenAI(replies) as stub:
        model = OpenAIModel(base_url=stub.base_url, model="Kimi-VL-A3B-Thinking", read_timeout=10,
                            retry=RetryPolicy(max_retries=0))
        start = time.monotonic()
        task = SimpleNamespace(id="waits", instruction="wait", max_steps=4)
        outcome = asyncio.run(Agent(model, get_profile("kimi-vl-thinking")).run(task, sb, tmp_path / "ep"))
        second = json.dumps(stub.chat_requests[1].body["messages"], ensure_ascii=False)
    assert outcome.status == "done" and time.monotonic() - start < 60
    first = load_episode(tmp_path / "ep").steps[0]
    assert len(first.parsed) == 64 and not first.executed
    assert "at most 30 seconds" in first.rejections[0].message and "at most 30 seconds" in second
