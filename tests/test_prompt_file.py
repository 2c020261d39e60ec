"""--prompt-file and the profile's templates: a published prompt reaches the model word for word (the real
stub server records what it got), and results.json records which prompt was used, by source and hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main as cli
from agent.profiles import get_profile
from agent.prompt_file import PromptFileError, PromptTemplate, grounding_prompt_identity, load_prompt_file
from agent.prompts import build_agent_messages, build_grounding_messages
from tests.stub_openai import StubOpenAI

PRO = Path(__file__).parent / "corpus" / "grounding" / "screenspot_pro"
CLICK = "◁think▷Found it.◁/think▷## Action:\nClick it.\n## Code:\n```python\npyautogui.click(x=0.5, y=0.5)\n```"
SYSTEM = 'You locate GUI elements. Reply as JSON like {"x": 0.5, "y": 0.5} or in code. Screen: {width}x{height}.'
USER = "Task: {instruction}\nAnswer with one click."


def write(path: Path, data: object) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_template_files_in_text_json_and_yaml(tmp_path):
    txt = load_prompt_file(write(tmp_path / "p.txt", USER))
    assert (txt.system, txt.user, txt.image, txt.source) == (None, USER, "before", str(tmp_path / "p.txt"))
    js = load_prompt_file(write(tmp_path / "p.json", {"system": SYSTEM, "user": USER, "image": "after"}))
    assert js.system == SYSTEM and js.image == "after"
    yml = load_prompt_file(write(tmp_path / "p.yaml", "system: |-\n  Find it.\nuser: 'Where is {instruction}?'\n"))
    assert yml.system == "Find it." and yml.user == "Where is {instruction}?"
    assert txt.sha256() != js.sha256() and js.sha256() == PromptTemplate(system=SYSTEM, user=USER, image="after").sha256()


@pytest.mark.parametrize("name, content, says", [
    ("a.txt", "Click the thing.", "never says {instruction}"),
    ("b.json", {"user": "{instruction}", "image": "middle"}, "field 'image'"),
    ("c.json", {"user": "{instruction}", "temperature": 0}, "field 'temperature'"),
    ("d.json", "{not json", "not valid JSON"),
    ("e.yaml", "- just\n- a list\n", "p"),
    ("f.json", {"system": "{instruction}"}, "field 'user'"),
])
def test_bad_template_files_are_named(tmp_path, name, content, says):
    path = write(tmp_path / name, content)
    with pytest.raises(PromptFileError) as err:
        load_prompt_file(path)
    assert str(path) in str(err.value) and says in str(err.value)


def test_a_template_is_sent_word_for_word_and_recorded(tmp_path, capsys):
    prompt = write(tmp_path / "published.json", {"system": SYSTEM, "user": USER, "image": "after"})
    out = tmp_path / "r.json"
    with StubOpenAI(responder=lambda body: CLICK, max_model_len=32768) as stub:
        code = cli(["ground", str(PRO), "--base-url", stub.base_url, "--prompt-file", str(prompt), "--out", str(out),
                    "--limit", "1", "--no-progress"])
        body = stub.chat_requests[0].body
        size = stub.chat_requests[0].image_sizes[0]
        # resuming with another prompt would mix two protocols in one result: refused
        other = write(tmp_path / "other.txt", "Where is {instruction}?")
        again = cli(["ground", str(PRO), "--base-url", stub.base_url, "--prompt-file", str(other), "--out", str(out),
                     "--resume", "--no-progress"])
        asked = len(stub.chat_requests)
    assert code == 0, capsys.readouterr().err
    assert again == 2 and asked == 1 and "another grounding prompt" in capsys.readouterr().err
    instruction = json.loads(out.read_text())["details"][0]["prompt_to_evaluate"]
    assert body["messages"][0] == {"role": "system", "content": SYSTEM.replace("{width}x{height}", f"{size[0]}x{size[1]}")}
    user = body["messages"][1]["content"]
    assert user[0] == {"type": "text", "text": f"Task: {instruction}\nAnswer with one click."}
    assert user[1]["type"] == "image_url" and len(body["messages"]) == 2
    run = json.loads(out.read_text())["run"]
    assert run["prompt"] == {"source": str(prompt), "sha256": load_prompt_file(prompt).sha256()}


def test_the_builtin_prompt_is_recorded_by_name_and_hash(tmp_path):
    out = tmp_path / "r.json"
    with StubOpenAI(responder=lambda body: CLICK, max_model_len=32768) as stub:
        assert cli(["ground", str(PRO), "--base-url", stub.base_url, "--out", str(out), "--limit", "1",
                    "--no-progress"]) == 0
    identity = json.loads(out.read_text())["run"]["prompt"]
    assert identity == grounding_prompt_identity(get_profile("kimi-vl-thinking"))
    assert identity["source"] == "builtin:kimi-screenspot" and len(identity["sha256"]) == 64
    assert grounding_prompt_identity(get_profile("ui-tars-1.5"))["sha256"] != identity["sha256"]


def test_bad_prompt_file_is_exit_2_before_the_server_is_asked(tmp_path, capsys):
    with StubOpenAI([CLICK]) as stub:
        code = cli(["ground", str(PRO), "--base-url", stub.base_url, "--prompt-file", str(tmp_path / "missing.txt"),
                    "--out", str(tmp_path / "r.json")])
        assert stub.requests == []
    assert code == 2 and "missing.txt" in capsys.readouterr().err


def test_profile_templates_for_grounding_and_agent(tmp_path):
    from PIL import Image

    from tools.frame import Frame

    profile = get_profile("kimi-vl-instruct")
    frame = Frame.from_image(Image.new("RGB", (640, 400), "white"))
    image = profile.prepare(frame)
    grounding = profile.with_(grounding_template=PromptTemplate(user="Point at {instruction}."))
    msgs = build_grounding_messages(grounding, image, " the OK button ")
    assert msgs == [{"role": "user", "content": [image.content_part(), {"type": "text", "text": "Point at the OK button."}]}]
    agent = profile.with_(agent_template=PromptTemplate(system="Operate a {width}x{height} desktop.",
                                                        user="Goal: {instruction}"))
    msgs = build_agent_messages(agent, "Save the file.", [], image, (640, 400))
    assert msgs[0] == {"role": "system", "content": "Operate a 640x400 desktop."}
    assert msgs[-1]["content"][-1] == {"type": "text", "text": "Goal: Save the file."}
