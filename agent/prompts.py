"""Prompt templates, in our own words, in the output shapes each model family was trained on.

Two modes:

- **agent**: the model plans every step. Layout (the shape of OSWorld's Kimi agent): a system prompt
  (GUI agent on a Linux desktop of W×H, the answer format, the coordinate convention), then earlier
  steps — the oldest as one assistant message of short text summaries, the most recent ``keep_images``
  as (user: screenshot, assistant: reply) pairs whose replies are replayed as
  ``◁think▷{thought}◁/think▷## Action: …`` — and last a user turn with the current screenshot and the
  task instruction. UI-TARS follows its own layout: the instruction prompt as the first user turn, then
  screenshots and ``Thought: … / Action: …`` replies.
- **grounding**: one screenshot + one element description → one point (ScreenSpot-style).

``build_agent_messages`` / ``build_grounding_messages`` return plain OpenAI chat messages: string
content for system/assistant turns, a list of ``text``/``image_url`` parts for user turns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, Sequence

if TYPE_CHECKING:
    from agent.images import ModelImage
    from agent.profiles import Profile


@dataclass(frozen=True)
class HistoryStep:
    """One earlier step as the prompt replays it.

    ``answer`` is the reply text after the thinking part; ``thought`` the thinking (None if none);
    ``action_text`` the reply's ``## Action:`` line when the parser found one; ``executed`` short
    descriptions of what ran, in model coordinates (``tools.actions.describe``); ``feedback`` what the
    loop told the model about this step (a rejection, a parse error); ``image`` the screenshot the
    model saw when it chose this step.
    """

    index: int
    answer: str
    thought: str | None = None
    action_text: str | None = None
    executed: tuple[str, ...] = ()
    feedback: str | None = None
    image: "ModelImage | None" = field(default=None, repr=False)


def clip(text: str, limit: int | None) -> str:
    """``text`` cut to ``limit`` characters at a word boundary where possible, marked with an ellipsis."""
    text = text.strip()
    if limit is None or len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip() + " …"


def action_line(step: HistoryStep) -> str:
    """The step's own one-line description: its action line as the parser read it (``Parsed.action_text``),
    else the answer's first line."""
    if step.action_text:
        return " ".join(step.action_text.split())
    first = step.answer.strip().splitlines()
    return first[0].strip() if first else "(no answer)"


def _image_parts(image: "ModelImage | None") -> list[dict]:
    return [image.content_part()] if image is not None else []


def _text(text: str) -> dict:
    return {"type": "text", "text": text}


class AgentPrompt(Protocol):
    """Builds the messages of one agent step."""

    def build(self, profile: "Profile", instruction: str, history: Sequence[HistoryStep], image: "ModelImage",
              screen_size: tuple[int, int], *, keep_images: int, thought_chars: int | None) -> list[dict]: ...


class GroundingPrompt(Protocol):
    """Builds the messages that ask for one point."""

    def build(self, profile: "Profile", image: "ModelImage", instruction: str) -> list[dict]: ...


# ---------------------------------------------------------------------- coordinate wording
def coordinate_rule(profile: "Profile", image: "ModelImage | None") -> str:
    """One sentence telling the model its coordinate convention."""
    if profile.space == "normalized":
        return ("Coordinates are normalized to the screenshot: x and y are fractions between 0 and 1 of its "
                "width and height (x=0, y=0 is the top-left corner, x=1, y=1 the bottom-right).")
    if profile.space == "thousand":
        return ("Coordinates are relative on a 0-1000 scale: x and y are integers from 0 to 1000 across the "
                "screenshot's width and height (0,0 is the top-left corner, 1000,1000 the bottom-right).")
    if image is not None:
        return (f"Coordinates are pixels of the screenshot you see, which is {image.width}x{image.height}: "
                f"x from 0 to {image.width - 1}, y from 0 to {image.height - 1}, (0,0) at the top-left.")
    return "Coordinates are pixels of the screenshot you see, (0,0) at the top-left."


def _example_point(profile: "Profile") -> str:
    if profile.space == "normalized":
        return "x=0.42, y=0.18"
    if profile.space == "thousand":
        return "x=420, y=180"
    return "x=812, y=196"


# ---------------------------------------------------------------------- OSWorld-shaped agent prompts
@dataclass(frozen=True)
class SectionsAgentPrompt:
    """``## Action:`` + ``## Code:`` (pyautogui) replies; used by Kimi-VL and the pyautogui profiles."""

    replay_thoughts: bool = True

    def system(self, profile: "Profile", screen_size: tuple[int, int], image: "ModelImage | None") -> str:
        w, h = screen_size
        point = _example_point(profile)
        return (
            f"You are a GUI agent operating a Linux desktop whose screen is {w}x{h} pixels. Each turn you get "
            "the task instruction, a screenshot of the current screen and your earlier steps, and you take "
            "exactly one step towards finishing the task.\n\n"
            "Answer in this format:\n"
            "## Action:\n"
            "<one short sentence: what you do now, naming the element you act on>\n"
            "## Code:\n"
            "```python\n"
            "<the pyautogui call(s) for this one step>\n"
            "```\n\n"
            f"{coordinate_rule(profile, image)}\n"
            f"Useful calls: pyautogui.click({point}), pyautogui.doubleClick({point}), "
            f"pyautogui.rightClick({point}), pyautogui.moveTo({point}), pyautogui.dragTo({point}), "
            f"pyautogui.scroll(-5, {point}) (negative scrolls down), pyautogui.write('text'), "
            "pyautogui.press('enter'), pyautogui.hotkey('ctrl', 's').\n"
            "Instead of pyautogui code you may write one special code alone in the block: WAIT when the "
            "screen must settle first, DONE when the task is complete, FAIL when it cannot be done. If the "
            "task asks a question, finish with computer.terminate(status='success', answer='<your answer>')."
        )

    def replay(self, profile: "Profile", step: HistoryStep, thought_chars: int | None) -> str:
        """An earlier reply as the assistant turn that produced it."""
        answer = step.answer.strip()
        if self.replay_thoughts and profile.thinking and step.thought:
            open_, close = profile.thinking
            return f"{open_}{clip(step.thought, thought_chars)}{close}{answer}"
        return answer

    def summary(self, profile: "Profile", step: HistoryStep) -> str:
        """An earlier step as one line of text (its screenshot dropped)."""
        line = f"Step {step.index}: {clip(action_line(step), 200)}"
        if step.executed:
            line += f" [ran: {'; '.join(step.executed)}]"
        if step.feedback:
            line += f" [feedback: {clip(step.feedback, 200)}]"
        return line

    def instruction(self, instruction: str, feedback: str | None) -> str:
        text = f"## Task Instruction:\n{instruction.strip()}\n\n"
        if feedback:
            text = f"Feedback on your previous step: {feedback.strip()}\n\n" + text
        return text + "Give the next step for this task, from the screenshot and your earlier steps."

    def build(self, profile: "Profile", instruction: str, history: Sequence[HistoryStep], image: "ModelImage",
              screen_size: tuple[int, int], *, keep_images: int = 3, thought_chars: int | None = None) -> list[dict]:
        system = templated(profile, "system", instruction, screen_size) or self.system(profile, screen_size, image)
        messages: list[dict] = [{"role": "system", "content": system}]
        recent, older = split_history(history, keep_images)
        if older:
            lines = "\n".join(self.summary(profile, s) for s in older)
            messages.append({"role": "assistant", "content": f"Earlier steps (screenshots not shown):\n{lines}"})
        pending: str | None = older[-1].feedback if older else None
        for step in recent:
            parts = _image_parts(step.image)
            if pending:
                parts.append(_text(f"Feedback on your previous step: {pending.strip()}"))
            messages.append({"role": "user", "content": parts})
            messages.append({"role": "assistant", "content": self.replay(profile, step, thought_chars)})
            pending = step.feedback
        task = templated(profile, "user", instruction, screen_size)
        text = self.instruction(instruction, pending) if task is None else _with_feedback(task, pending)
        messages.append({"role": "user", "content": _image_parts(image) + [_text(text)]})
        return messages


def templated(profile: "Profile", which: str, instruction: str, screen_size: tuple[int, int]) -> str | None:
    """The profile's agent template's ``system`` or ``user`` text, filled in (None: no template says it)."""
    template = profile.agent_template
    text = getattr(template, which) if template is not None else None
    return None if text is None else template.fill(text, instruction.strip(), *screen_size)


def _with_feedback(text: str, feedback: str | None) -> str:
    return f"Feedback on your previous step: {feedback.strip()}\n\n{text}" if feedback else text


def split_history(history: Sequence[HistoryStep], keep_images: int) -> tuple[list[HistoryStep], list[HistoryStep]]:
    """(recent steps shown with their screenshots, older steps shown as text): the last ``keep_images``
    steps that carry a screenshot, counting back until one has none."""
    steps = list(history)
    n = 0
    for step in reversed(steps):
        if n >= keep_images or step.image is None:
            break
        n += 1
    cut = len(steps) - n
    return steps[cut:], steps[:cut]


# ---------------------------------------------------------------------- Qwen computer_use tool calls
QWEN_ACTIONS = {
    # Qwen2.5-VL's cookbook tool; Qwen3-VL's adds triple_click, hscroll and answer
    "qwen2.5-vl": ("key", "type", "mouse_move", "left_click", "left_click_drag", "right_click", "middle_click",
                   "double_click", "scroll", "wait", "terminate"),
    "qwen3-vl": ("key", "type", "mouse_move", "left_click", "left_click_drag", "right_click", "middle_click",
                 "double_click", "triple_click", "scroll", "hscroll", "wait", "terminate", "answer"),
}


def tool_screen(profile: "Profile", image: "ModelImage | None") -> tuple[int, int]:
    """The resolution the ``computer_use`` tool announces: the 1000x1000 grid for 0-1000 models
    (Qwen3-VL), the size of the image as sent for pixel models (Qwen2.5-VL: the smart_resize image)."""
    if profile.space == "thousand" or image is None:
        return 1000, 1000
    return image.width, image.height


def computer_use_tool(width: int, height: int, actions: Sequence[str]) -> dict:
    """The ``computer_use`` function the Qwen-VL models were trained to call (our wording, their schema)."""
    return {
        "type": "function",
        "function": {
            "name": "computer_use",
            "description": (
                "Use a mouse and keyboard to interact with a computer, and take screenshots.\n"
                "* This is the desktop GUI of a Linux computer; open applications from what is on screen.\n"
                "* Applications can take a moment to react: wait and look at the next screenshot when needed.\n"
                f"* The screen's resolution is {width}x{height}.\n"
                "* Aim at the centre of an element, not its edge."
            ),
            "parameters": {
                "type": "object",
                "required": ["action"],
                "properties": {
                    "action": {
                        "type": "string",
                        "enum": list(actions),
                        "description": (
                            "key: press keys together (keys). type: type text (text). mouse_move: move to coordinate. "
                            "left_click / right_click / middle_click / double_click / triple_click: click at "
                            "coordinate. left_click_drag: drag from the pointer to coordinate. scroll / hscroll: "
                            "scroll by pixels (positive up/right). wait: wait time seconds. terminate: end the task "
                            "with status. answer: give the answer the task asks for (text)."
                        ),
                    },
                    "keys": {"type": "array", "description": "Keys for action=key, e.g. [\"ctrl\", \"s\"]."},
                    "text": {"type": "string", "description": "Text for action=type and action=answer."},
                    "coordinate": {"type": "array",
                                   "description": f"(x, y): pixels from the left and top edges, within {width}x{height}."},
                    "pixels": {"type": "number", "description": "Amount for scroll / hscroll."},
                    "time": {"type": "number", "description": "Seconds for action=wait."},
                    "status": {"type": "string", "enum": ["success", "failure"], "description": "For action=terminate."},
                },
            },
        },
    }


def tools_system(preamble: str, tool: dict) -> str:
    """A system prompt offering ``tool`` the way Qwen's chat template lists functions (Hermes style)."""
    return (
        f"{preamble}\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
        f"{json.dumps(tool, ensure_ascii=False)}\n</tools>\n\n"
        "For each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\n<tool_call>\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
    )


def qwen_tool_system(profile: "Profile", image: "ModelImage | None", preamble: str = "You are a helpful assistant.") -> str:
    """The system prompt with the profile's ``computer_use`` tool (its actions and announced resolution)."""
    width, height = tool_screen(profile, image)
    actions = QWEN_ACTIONS.get(profile.family, QWEN_ACTIONS["qwen3-vl"])
    return tools_system(preamble, computer_use_tool(width, height, actions))


@dataclass(frozen=True)
class QwenToolAgentPrompt(SectionsAgentPrompt):
    """Qwen2.5-VL / Qwen3-VL computer use: one ``computer_use`` tool call per step, in the profile's space."""

    replay_thoughts: bool = False

    def system(self, profile: "Profile", screen_size: tuple[int, int], image: "ModelImage | None") -> str:
        w, h = screen_size
        return qwen_tool_system(profile, image, f"You are a GUI agent operating a Linux desktop ({w}x{h} pixels). "
                                                "Take exactly one step per turn.")

    def instruction(self, instruction: str, feedback: str | None) -> str:
        text = f"The task: {instruction.strip()}\n\nBefore the call, say in one sentence what you do next and why."
        if feedback:
            text = f"Feedback on your previous step: {feedback.strip()}\n\n" + text
        return text


# ---------------------------------------------------------------------- UI-TARS agent prompt
UITARS_ACTION_SPACE = (
    # UI-TARS-1.5's action space (points as <point>x y</point>); the parser still reads 1.0's start_box form
    "click(point='<point>x1 y1</point>')\n"
    "left_double(point='<point>x1 y1</point>')\n"
    "right_single(point='<point>x1 y1</point>')\n"
    "drag(start_point='<point>x1 y1</point>', end_point='<point>x2 y2</point>')\n"
    "hotkey(key='ctrl c') # keys separated by spaces, lower case, at most three\n"
    "type(content='xxx') # escape \\', \\\" and \\n inside content; end with \\n to submit\n"
    "scroll(point='<point>x1 y1</point>', direction='down or up or right or left')\n"
    "wait() # pause 5 s, then look at a new screenshot\n"
    "finished(content='xxx') # the task is done; content carries the answer if one is asked for"
)


@dataclass(frozen=True)
class UITarsAgentPrompt:
    """UI-TARS-1.5 computer use: ``Thought: … / Action: …`` in pixels of the smart_resize image."""

    language: str = "English"

    def first_turn(self, instruction: str) -> str:
        return (
            "You are a GUI agent. You are given a task and your action history, with screenshots. "
            "You need to perform the next action to complete the task.\n\n"
            "## Output Format\n```\nThought: ...\nAction: ...\n```\n\n"
            f"## Action Space\n\n{UITARS_ACTION_SPACE}\n\n"
            "## Note\n"
            f"- Write the `Thought` part in {self.language}.\n"
            "- In `Thought`, make a small plan and end with one sentence stating the next action and its "
            "target element.\n\n"
            f"## User Instruction\n{instruction.strip()}\n"
        )

    def summary(self, profile: "Profile", step: HistoryStep) -> str:
        thought = f"Thought: {clip(step.thought, 160)}\n" if step.thought else ""
        return f"{thought}Action: {clip(action_line(step), 200)}"

    def build(self, profile: "Profile", instruction: str, history: Sequence[HistoryStep], image: "ModelImage",
              screen_size: tuple[int, int], *, keep_images: int = 5, thought_chars: int | None = None) -> list[dict]:
        system = templated(profile, "system", instruction, screen_size) or "You are a helpful assistant."
        first = templated(profile, "user", instruction, screen_size) or self.first_turn(instruction)
        messages: list[dict] = [{"role": "system", "content": system}, {"role": "user", "content": [_text(first)]}]
        recent, older = split_history(history, keep_images)
        for step in older:
            messages.append({"role": "assistant", "content": self.summary(profile, step)})
        pending = older[-1].feedback if older else None
        for step in recent:
            parts = _image_parts(step.image)
            if pending:
                parts.append(_text(f"Feedback on the previous action: {pending.strip()}"))
            messages.append({"role": "user", "content": parts})
            answer = step.answer.strip()
            if step.thought and not answer.lstrip().startswith("Thought"):
                answer = f"Thought: {clip(step.thought, thought_chars)}\n{answer}"
            messages.append({"role": "assistant", "content": answer})
            pending = step.feedback
        last = _image_parts(image)
        if pending:
            last.append(_text(f"Feedback on the previous action: {pending.strip()}"))
        messages.append({"role": "user", "content": last})
        return messages


# ---------------------------------------------------------------------- grounding prompts
@dataclass(frozen=True)
class KimiGroundingPrompt:
    """ScreenSpot-Pro style for Kimi-VL Thinking: system asks for ``## Action:`` + ``## Code:`` with a normalized click."""

    def build(self, profile: "Profile", image: "ModelImage", instruction: str) -> list[dict]:
        system = (
            "You are a GUI agent. You are given a task and a screenshot of a computer screen, and you answer "
            "with one action and the pyautogui code that performs it. Reply in this format:\n\n"
            "## Action:\nA clear, short instruction saying which element to act on.\n\n"
            "## Code:\nA pyautogui snippet that clicks that element, using normalized screen coordinates: "
            "x and y are numbers between 0 and 1, fractions of the screenshot's width and height, so the "
            "code works at any screen resolution."
        )
        return [
            {"role": "system", "content": system},
            {"role": "user", "content": [image.content_part(), _text(f"## Task Instruction:\n{instruction.strip()}")]},
        ]


@dataclass(frozen=True)
class KimiInstructPointPrompt:
    """The Kimi-VL-A3B-Instruct card's recommended point prompt (expected output: a point)."""

    def build(self, profile: "Profile", image: "ModelImage", instruction: str) -> list[dict]:
        text = ("Please observe the screenshot, please locate the following elements with action and point."
                f"<instruction> {instruction.strip()}")
        return [{"role": "user", "content": [image.content_part(), _text(text)]}]


@dataclass(frozen=True)
class UITarsGroundingPrompt:
    """UI-TARS-1.5 grounding: the agent header with a click-only action space (its published grounding
    prompt's shape); the answer is ``Action: click(point='<point>x y</point>')``."""

    def build(self, profile: "Profile", image: "ModelImage", instruction: str) -> list[dict]:
        text = (
            "You are a GUI agent. You are given a task and your action history, with screenshots. "
            "You need to perform the next action to complete the task.\n\n"
            "## Output Format\n\nAction: ...\n\n\n"
            "## Action Space\nclick(point='<point>x1 y1</point>')\n\n"
            f"## User Instruction\n{instruction.strip()}"
        )
        return [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": [_text(text), image.content_part()]},
        ]


@dataclass(frozen=True)
class PyAutoGUIGroundingPrompt:
    """Generic grounding for pyautogui-speaking models: one click in the profile's coordinate space."""

    def build(self, profile: "Profile", image: "ModelImage", instruction: str) -> list[dict]:
        system = (
            "You are a GUI agent that locates elements on screenshots. Answer with one line of pyautogui code "
            f"that clicks the element the user describes, e.g. pyautogui.click({_example_point(profile)}). "
            f"{coordinate_rule(profile, image)}"
        )
        return [
            {"role": "system", "content": system},
            {"role": "user", "content": [image.content_part(), _text(f"## Task Instruction:\n{instruction.strip()}")]},
        ]


@dataclass(frozen=True)
class QwenToolGroundingPrompt:
    """Qwen2.5-VL / Qwen3-VL grounding as in their computer-use cookbooks: the ``computer_use`` tool in the
    system prompt, the instruction as the user's query; the answer is a ``left_click`` tool call.
    Qwen2.5-VL's cookbook puts the query before the image, Qwen3-VL's after it."""

    def build(self, profile: "Profile", image: "ModelImage", instruction: str) -> list[dict]:
        parts = [image.content_part(), _text(instruction.strip())]
        if profile.family == "qwen2.5-vl":
            parts.reverse()
        return [{"role": "system", "content": qwen_tool_system(profile, image)}, {"role": "user", "content": parts}]


@dataclass(frozen=True)
class OSAtlasGroundingPrompt:
    """OS-Atlas-Base: its "(with bbox)" question after the image; the answer is a box on the 0-1000 grid
    between ``<|box_start|>`` and ``<|box_end|>`` (special tokens: the profile asks vLLM to keep them)."""

    def build(self, profile: "Profile", image: "ModelImage", instruction: str) -> list[dict]:
        text = ("In this UI screenshot, what is the position of the element corresponding to the command "
                f"\"{instruction.strip()}\" (with bbox)?")
        return [{"role": "user", "content": [image.content_part(), _text(text)]}]


AGENT_PROMPTS: dict[str, AgentPrompt] = {
    "sections": SectionsAgentPrompt(),
    "ui-tars": UITarsAgentPrompt(),
    "qwen-tool": QwenToolAgentPrompt(),
}

GROUNDING_PROMPTS: dict[str, GroundingPrompt] = {
    "kimi-screenspot": KimiGroundingPrompt(),
    "kimi-instruct-point": KimiInstructPointPrompt(),
    "ui-tars": UITarsGroundingPrompt(),
    "pyautogui": PyAutoGUIGroundingPrompt(),
    "qwen-tool": QwenToolGroundingPrompt(),
    "os-atlas": OSAtlasGroundingPrompt(),
}


def build_agent_messages(
    profile: "Profile",
    instruction: str,
    history: Sequence[HistoryStep],
    image: "ModelImage",
    screen_size: tuple[int, int],
    *,
    keep_images: int = 3,
    thought_chars: int | None = None,
) -> list[dict]:
    """The chat messages for one agent step (no budget applied; ``agent.budget`` trims history to fit).

    ValueError for a grounding-only profile (it has no agent prompt)."""
    if profile.agent_prompt is None:
        raise ValueError(f"profile {profile.name} is grounding-only ({profile.hf_model} was trained to point at "
                         "elements, not to plan steps): use it with `screenact ground` or --mode scripted")
    return AGENT_PROMPTS[profile.agent_prompt].build(
        profile, instruction, history, image, screen_size, keep_images=keep_images, thought_chars=thought_chars)


def build_grounding_messages(profile: "Profile", image: "ModelImage", instruction: str) -> list[dict]:
    """The chat messages asking the model for the point an instruction refers to (the profile's
    ``grounding_template`` when it has one: a published prompt, word for word)."""
    if profile.grounding_template is not None:
        return profile.grounding_template.build(image, instruction)
    return GROUNDING_PROMPTS[profile.grounding_prompt].build(profile, image, instruction)
