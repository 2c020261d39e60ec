"""The pause/takeover switch (``agent.control``) and its record, without a desktop: the driver's side
runs against a recorder double that only keeps what it was given (the UI test drives the real thing)."""

from __future__ import annotations

import asyncio

from agent.control import RunControl, hold, takeover_note
from agent.profiles import get_profile
from agent.step import InterventionRecord, StepRecord, read_step


class Desk:
    width, height = 4, 3

    def __init__(self) -> None:
        self.shots = 0

    def screenshot(self):
        from tools.frame import Frame

        self.shots += 1
        return Frame(4, 3, bytes([self.shots % 256]) * 48)


class Rec:
    def __init__(self) -> None:
        self.saved: list[str] = []
        self.statuses: list[str] = []
        self.unfinished: list[dict] = []

    def save_named(self, name, frame):
        self.saved.append(name)
        return name

    def status(self, status, text):
        self.statuses.append(status)


def test_a_pause_waits_for_resume_and_a_takeover_is_recorded():
    async def go():
        control, desk, rec = RunControl(), Desk(), Rec()
        assert await hold(control, desk, rec, 1) is None and control.state.word == "running"
        control.pause("ann")
        assert control.state.word == "pausing" and control.holding is None
        held = asyncio.create_task(hold(control, desk, rec, 2))
        while control.holding is None:
            await asyncio.sleep(0.01)
        assert control.state.word == "paused" and rec.statuses == ["paused"]
        control.take_over("bob")  # a pause in progress becomes a takeover
        assert control.holding == "takeover" and control.state.word == "taken over"
        await asyncio.sleep(0.1)
        assert not held.done()
        control.resume()
        record, fresh = await held
        return control, desk, rec, record, fresh

    control, desk, rec, record, fresh = asyncio.run(go())
    assert record.kind == "takeover" and record.by == "bob" and record.seconds >= 0.1
    assert (record.frame_before, record.frame_after) == ("pause-0002-before.png", "pause-0002-after.png")
    assert rec.saved == [record.frame_before, record.frame_after] and rec.statuses == ["paused", "running"]
    assert fresh.bgra[0] == desk.shots  # the frame taken after the resume
    assert control.state.word == "running" and control.holding is None
    note = takeover_note(get_profile("kimi-vl-thinking").takeover_note, record)
    assert note.startswith("A person took over the desktop for 0 s") or "for 1 s" in note
    assert "{" not in takeover_note(get_profile("ui-tars-1.5").takeover_note, record)


def test_a_pause_withdrawn_before_the_step_ends_never_holds_and_cancel_ends_a_hold():
    rec = Rec()

    async def go():
        control = RunControl()
        control.pause()
        control.resume()
        assert await hold(control, Desk(), rec, 1) is None
        control.take_over("ann")
        held = asyncio.create_task(hold(control, Desk(), rec, 1))
        while control.holding is None:
            await asyncio.sleep(0.01)
        held.cancel()  # the stop button while held
        try:
            await held
        except asyncio.CancelledError:
            pass
        return control

    control = asyncio.run(go())
    assert control.holding is None  # nobody is left holding: the view grants no input any more
    (cut,) = rec.unfinished  # recorded for result.json: no next step will carry it
    assert cut["kind"] == "takeover" and cut["by"] == "ann" and cut["frame_before"] == "pause-0001-before.png"
    assert "frame_after" not in cut or cut["frame_after"] is None


def test_step_lines_without_interventions_still_read_and_a_damaged_one_costs_only_itself():
    old, problems = read_step({"index": 3, "kind": "model", "frame": "step-0003.png"}, 0)
    assert old.interventions == [] and problems == []
    held = InterventionRecord(kind="pause", by="ann", at=1.5, seconds=2.0, frame_before="a.png", frame_after="b.png")
    line = StepRecord.start(4, interventions=[held]).model_dump(mode="json")
    line["interventions"].append({"kind": "nap", "by": "x", "at": 0, "seconds": 1})
    step, problems = read_step(line, 0)
    assert step.interventions == [held] and len(problems) == 1 and problems[0].startswith("interventions.1")


def test_the_takeover_note_goes_where_the_prompt_says_what_happened_since():
    from agent.loop import _with_note
    from agent.prompts import HistoryStep

    assert _with_note("Do it.", [], None) == ("Do it.", [])
    assert _with_note("Do it.", [], "A person acted.") == ("A person acted.\n\nDo it.", [])
    first, last = HistoryStep(1, "a"), HistoryStep(2, "b", feedback="type(…) was rejected")
    instruction, history = _with_note("Do it.", [first, last], "A person acted.")
    assert instruction == "Do it." and history[0] is first
    assert history[1].feedback == "type(…) was rejected A person acted." and last.feedback == "type(…) was rejected"
