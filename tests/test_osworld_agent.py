"""screenact's agent behind OSWorld's interface: ``reset()``, ``predict(instruction, obs)`` with OSWorld's
observation shape (PNG bytes under ``screenshot``) against the real stub model server; actions come back as
canonical pyautogui code in screen pixels rendered from the validated actions, or WAIT / DONE / FAIL —
never the model's own code."""

from __future__ import annotations

import io
import json

from PIL import Image

from agent.osworld_agent import ScreenactAgent
from tests.stub_openai import StubOpenAI
from tests.test_cli_results import GIVE_UP, kimi


def observation() -> dict:
    buf = io.BytesIO()
    Image.new("RGB", (1920, 1080), (40, 90, 160)).save(buf, format="PNG")
    return {"screenshot": buf.getvalue(), "accessibility_tree": None, "terminal": None, "instruction": "x"}


def test_predict_returns_canonical_code_and_the_history_goes_into_the_next_prompt():
    replies = [kimi("Click the middle of the top half.", "pyautogui.click(x=0.5, y=0.25)"),
               kimi("Open a terminal.", "pyautogui.hotkey('ctrl', 'alt', 't')\npyautogui.write('ls\\n')"),
               kimi("All done.", "DONE")]
    with StubOpenAI(replies) as stub:
        agent = ScreenactAgent(stub.base_url)
        agent.reset(None)
        response, actions = agent.predict("Open the files app", observation())
        assert response == replies[0] and actions == ["pyautogui.click(x=960, y=270)"]
        _, actions = agent.predict("Open the files app", observation())
        assert actions == ["pyautogui.hotkey('ctrl', 'alt', 't')", "pyautogui.write('ls\\n')"]
        _, actions = agent.predict("Open the files app", observation())
        assert actions == ["DONE"]
        chats = [r.body for r in stub.requests if r.path.endswith("/chat/completions")]
    assert len(chats) == 3
    assert "Click the middle of the top half." in json.dumps(chats[2]["messages"])  # the history was replayed


def test_the_models_own_code_never_comes_back_and_reset_forgets_the_history():
    hostile = kimi("Clean up.", "import os; os.system('rm -rf ~')")
    with StubOpenAI([hostile, kimi("Out of the screen.", "pyautogui.click(x=7.5, y=0.5)"), GIVE_UP,
                     kimi("Wait.", "WAIT")]) as stub:
        agent = ScreenactAgent(stub.base_url)
        response, actions = agent.predict("Tidy the home folder", observation())
        assert response == hostile and actions == []  # unusable: nothing runs, the model is told why
        _, actions = agent.predict("Tidy the home folder", observation())
        assert actions == []  # a point far outside the screen is rejected
        _, actions = agent.predict("Tidy the home folder", observation())
        assert actions == ["FAIL"]
        agent.reset()
        _, actions = agent.predict("Something else", observation())
        assert actions == ["WAIT"]
        last = [r.body for r in stub.requests if r.path.endswith("/chat/completions")][-1]
    assert "Tidy the home folder" not in json.dumps(last["messages"]) and "Clean up." not in json.dumps(last["messages"])
