"""Generate a ScreenSpot-Pro-format grounding set from the sandbox: real apps, true boxes from the toolkit.

Each *scene* is a fresh :class:`sandbox.Sandbox` of one of several screen sizes holding one to three
windows placed apart: the bundled Tk apps (``tasks.apps``: form, editor, todo, calc, settings, in
English or Chinese, with varied contents, sometimes a menu open, another tab chosen or an item
selected) and xterm running a made-up shell session. The ground truth never comes from pixels:

- a Tk app publishes every visible widget's screen box in its state file (``winfo_rootx`` & co.,
  menu entries by ``yposition``, list rows by ``bbox``);
- xterm reports its text area in characters and pixels (``CSI 18 t`` / ``CSI 14 t``), the session is
  printed from the top-left cell, and the window manager gives the window's position, so a word's
  box is ``origin + (col, row) × cell`` (see :mod:`tasks.grounding.xterm_scene`).

Every element gets an instruction in English and Chinese from role-specific templates, a ``text`` or
``icon`` type (text: the element shows the words the instruction names — buttons, labels, menu
entries, tabs, options, list rows, terminal words; icon: it is found by shape or by a neighbouring
label — entries, drop-downs, sliders, scroll bars, the text area, operator keys), and elements that an
instruction could not tell apart from another on screen are qualified by their window or left out.

Output, in ScreenSpot-Pro's layout: ``annotations/<app>_linux.json`` (records with ``img_filename,
bbox [x1, y1, x2, y2], instruction, instruction_cn, id, application, platform, img_size, ui_type,
group`` plus ``scene``, ``widget_id``, ``role`` and ``label``), ``images/scenes/scene_NNNN.png`` and
``scenes.json`` (the seed, a digest of the code that draws the scenes, each scene's spec and the boxes
every window published). The same seed gives the same scenes, records, boxes and pixels — with the
same apps and sandbox code (a change to an app's layout moves its boxes; compare ``code``).
"""

from __future__ import annotations

import importlib
import json
import random
import shutil
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

GENERATOR_VERSION = 1
SCREENS: tuple[tuple[int, int], ...] = ((1280, 800), (1920, 1080), (2560, 1440), (3840, 2160))
APPS: tuple[str, ...] = ("form", "editor", "todo", "calc", "settings", "xterm")
GROUPS = {"form": "Office", "editor": "Office", "todo": "Office", "calc": "Scientific", "settings": "OS", "xterm": "Dev"}
PLATFORM = "linux"
PER_SCENE = 6
XTERM_FONT = "DejaVu Sans Mono:pixelsize=14"
XTERM_CHARS = (96, 13)
XTERM_CELL = (8, 17)  # DejaVu Sans Mono at 14 px, as xterm reports it here; only used for placement
XTERM_BORDER = 2
FRAME_EXTRA = (2, 21)  # the window manager's border and title bar around a client window
GAP = 24

NAMES = [("Alice Martin", "alice@example.com"), ("Bob Chen", "bob.chen@example.org"), ("Chloé Dubois", "chloe@exemple.fr"),
         ("Dmitri Ivanov", "dmitri@example.net"), ("Emma Schmidt", "emma.s@example.de"), ("王芳", "wangfang@example.cn")]
TODO_EN = ["Buy milk", "Call Bob", "Book flights", "Pay rent", "Water the plants", "Renew passport", "Fix the bike",
           "Write report", "Email the landlord", "Clean the garage", "Plan the party", "Read chapter 4", "Backup photos"]
TODO_ZH = ["买牛奶", "给妈妈打电话", "预订机票", "交房租", "浇花", "更新护照", "修自行车", "写周报", "整理车库", "备份照片"]
EDITOR_TEXTS = [
    "Meeting notes\n- budget approved\n- launch moved to May\n",
    "Dear Sam,\nThanks for the quick reply. See you on Friday.\nBest,\nAlex\n",
    "TODO\n1. update the README\n2. tag release 2.1\n3. announce it\n",
    "def greet(name):\n    return f\"Hello, {name}!\"\n",
    "会议纪要\n预算已批准，发布推迟到五月。\n",
    "Shopping list: eggs, flour, butter, apples\n",
]
CALC_OPS = {"÷": "divide", "×": "multiply", "−": "minus", "+": "plus", "=": "equals"}
CALC_OPS_ZH = {"÷": "除", "×": "乘", "−": "减", "+": "加", "=": "等于"}


# ---------------------------------------------------------------------------------- scene specs
@dataclass(frozen=True)
class WindowSpec:
    """One window of a scene: which app, its language, where its frame goes, its arguments, the widgets
    clicked before the screenshot (``prepare``), files written first and, for xterm, the session seed."""

    app: str
    lang: str
    position: tuple[int, int]
    args: tuple[str, ...] = ()
    prepare: tuple[str, ...] = ()
    files: tuple[tuple[str, str], ...] = ()
    seed: int = 0

    def argv(self, state_path: str) -> list[str]:
        """The command that starts this window inside the sandbox."""
        x, y = self.position
        if self.app == "xterm":
            cols, rows = XTERM_CHARS
            return ["xterm", "-title", "Terminal", "-fa", XTERM_FONT, "-b", str(XTERM_BORDER), "+sb",
                    "-xrm", "XTerm*allowWindowOps: true", "-geometry", f"{cols}x{rows}+{x}+{y}",
                    "-e", sys.executable, "-m", "tasks.grounding.xterm_scene", "--state", state_path,
                    "--seed", str(self.seed)]
        return [sys.executable, "-m", f"tasks.apps.{self.app}", "--state", state_path, "--lang", self.lang,
                "--position", f"{x},{y}", *self.args]


@dataclass(frozen=True)
class Scene:
    """A screen size and the windows on it; ``index`` numbers the scene within a generated set."""

    index: int
    width: int
    height: int
    windows: tuple[WindowSpec, ...]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Scene":
        wins = tuple(WindowSpec(app=w["app"], lang=w["lang"], position=tuple(w["position"]), args=tuple(w["args"]),
                                prepare=tuple(w["prepare"]), files=tuple(tuple(f) for f in w["files"]), seed=w["seed"])
                     for w in d["windows"])
        return cls(d["index"], d["width"], d["height"], wins)  # type: ignore[arg-type]


def app_class(app: str) -> Any:
    """The ``TkApp`` subclass of a bundled app (imported on the host only for its size and strings)."""
    from tasks.apps._base import TkApp

    mod = importlib.import_module(f"tasks.apps.{app}")
    for obj in vars(mod).values():
        if isinstance(obj, type) and issubclass(obj, TkApp) and obj is not TkApp and obj.name == app:
            return obj
    raise ValueError(f"no bundled app called {app!r}")


def app_size(app: str) -> tuple[int, int]:
    """The client size of an app's window (the Tk app's fixed size; xterm's from its font and geometry)."""
    if app == "xterm":
        return (XTERM_CHARS[0] * XTERM_CELL[0] + 2 * XTERM_BORDER, XTERM_CHARS[1] * XTERM_CELL[1] + 2 * XTERM_BORDER)
    return tuple(app_class(app).size)  # type: ignore[return-value]


def window_title(spec: "WindowSpec") -> str:
    """The title an instruction uses to name a window (the app's title in its language)."""
    if spec.app == "xterm":
        return "Terminal"
    strings = app_class(spec.app).strings
    return strings.get(spec.lang, strings["en"]).get("title") or spec.app


def _variant(app: str, lang: str, rng: random.Random, home: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...], int]:
    """(args, prepare clicks, files, seed) of one app window, drawn from ``rng``."""
    args: list[str] = []
    prepare: list[str] = []
    files: list[tuple[str, str]] = []
    seed = 0
    if app == "form":
        if rng.random() < 0.5:
            name, email = rng.choice(NAMES)
            args += ["--name", name, "--email", email]
        args += ["--country", rng.choice(["fr", "de", "jp", "cn", "br", "ca"]),
                 "--plan", rng.choice(["basic", "pro", "enterprise"])]
        if rng.random() < 0.4:
            args.append("--newsletter")
        if rng.random() < 0.25:
            prepare.append("country_menu")
    elif app == "editor":
        if rng.random() < 0.75:
            path = f"{home}/{rng.choice(['notes', 'letter', 'todo', 'draft', 'plan'])}.txt"  # home: per scene
            files.append((path, rng.choice(EDITOR_TEXTS)))
            args += ["--file", path]
        if rng.random() < 0.4:
            prepare.append(rng.choice(["file_menu", "edit_menu"]))
    elif app == "todo":
        bank = TODO_ZH if lang == "zh" else TODO_EN
        items = rng.sample(bank, rng.randint(0, min(9, len(bank))))
        for text in items:
            args += ["--item", text]
        for i in range(len(items)):
            if rng.random() < 0.3:
                args += ["--done", str(i)]
        if items and rng.random() < 0.35:
            prepare.append(f"item_{rng.randrange(min(len(items), 8))}")
    elif app == "calc":
        if rng.random() < 0.5:
            prepare += [f"button_{d}" for d in rng.sample("123456789", rng.randint(1, 3))]
    elif app == "settings":
        args += ["--set", f"username={rng.choice(['user', 'alex', 'mei', 'sam'])}",
                 "--set", f"volume={rng.randrange(0, 101, 10)}", "--set", f"brightness={rng.randrange(0, 101, 10)}",
                 "--set", f"theme={rng.choice(['light', 'dark'])}", "--set", f"mute={rng.choice(['true', 'false'])}"]
        tab = rng.choice(["general", "general", "display", "sound"])
        if tab != "general":
            prepare.append(f"tab_{tab}")
    elif app == "xterm":
        seed = rng.randrange(1_000_000)
    return tuple(args), tuple(prepare), tuple(files), seed


def opens_menu(widget_id: str) -> bool:
    """Whether clicking this prepare widget posts a menu (a menu button or a drop-down)."""
    return widget_id.endswith("_menu")


def plan_scene(seed: int, index: int, *, screens: Sequence[tuple[int, int]] = SCREENS,
               apps: Sequence[str] = APPS, home: str = "/tmp/screenact-gen") -> Scene:
    """Scene ``index`` of the set with this seed: screen size, windows, their places and variants.

    Pure and deterministic (its own ``random.Random`` seeded by ``"<seed>/<index>"``): windows are
    placed at random where their frames (title bar included) fit on the screen without touching.
    """
    rng = random.Random(f"{seed}/{index}")
    home = f"{home}/scene-{index}"
    width, height = rng.choice(list(screens))
    k = rng.choice([1, 2, 2, 3])
    chosen = rng.sample(list(apps), min(k, len(apps)))
    placed: list[tuple[int, int, int, int]] = []
    windows: list[WindowSpec] = []
    for app in chosen:
        w, h = app_size(app)
        fw, fh = w + FRAME_EXTRA[0], h + FRAME_EXTRA[1]
        if app in ("editor", "form"):
            fh += 140  # room below for a posted menu
        spot = None
        for _ in range(200):
            x = rng.randint(0, max(0, width - fw))
            y = rng.randint(0, max(0, height - fh))
            if x + fw > width or y + fh > height:
                continue
            if all(x + fw + GAP <= a or a2 + GAP <= x or y + fh + GAP <= b or b2 + GAP <= y for a, b, a2, b2 in placed):
                spot = (x, y)
                break
        if spot is None:
            continue
        placed.append((spot[0], spot[1], spot[0] + fw, spot[1] + fh))
        lang = "zh" if app != "xterm" and rng.random() < 0.25 else "en"
        args, prepare, files, wseed = _variant(app, lang, rng, home)
        windows.append(WindowSpec(app, lang, spot, args, prepare, files, wseed))
    # A posted menu grabs the pointer: at most one window opens one (and open_scene does it last).
    menus = [i for i, w in enumerate(windows) if any(opens_menu(p) for p in w.prepare)]
    for i in menus[1:]:
        w = windows[i]
        windows[i] = WindowSpec(w.app, w.lang, w.position, w.args, tuple(p for p in w.prepare if not opens_menu(p)),
                                w.files, w.seed)
    if not windows:  # nothing fitted (a tiny screen): one window at the top-left
        app = chosen[0]
        args, prepare, files, wseed = _variant(app, "en", rng, home)
        windows.append(WindowSpec(app, "en", (0, 0), args, prepare, files, wseed))
    return Scene(index, width, height, tuple(windows))


# ---------------------------------------------------------------------------------- elements
@dataclass
class Element:
    """A groundable thing on screen: the app and window it belongs to, its id, role, label and box."""

    app: str
    window: int
    widget_id: str
    role: str
    label: str
    bbox: tuple[int, int, int, int]
    lang: str = "en"
    extra: dict[str, Any] = field(default_factory=dict)


class OpenScene:
    """A scene running in a sandbox: where each window publishes its state, and reading it."""

    def __init__(self, sandbox: Any, scene: Scene, state_paths: list[str]) -> None:
        self.sandbox = sandbox
        self.scene = scene
        self.state_paths = state_paths

    def state(self, i: int) -> dict[str, Any]:
        """Window ``i``'s published state document."""
        from tasks.setup import read_state

        doc = read_state(self.sandbox, self.state_paths[i])
        if doc is None:
            raise RuntimeError(f"window {i} ({self.scene.windows[i].app}) has no readable state at {self.state_paths[i]}")
        return doc

    def states(self) -> list[dict[str, Any]]:
        return [self.state(i) for i in range(len(self.scene.windows))]

    def xterm_origin(self) -> tuple[int, int]:
        """Screen pixel of xterm's first text cell: its window's position (from the window manager) plus the border."""
        for w in self.sandbox.windows():
            if w.title == "Terminal":
                return (w.x + XTERM_BORDER, w.y + XTERM_BORDER)
        raise RuntimeError("the xterm window is not on screen")

    def elements(self, states: list[dict[str, Any]] | None = None) -> list[Element]:
        """Every element of every window, with its current screen box."""
        states = states if states is not None else self.states()
        out: list[Element] = []
        for i, (spec, doc) in enumerate(zip(self.scene.windows, states)):
            if spec.app == "xterm":
                out += xterm_elements(doc, self.xterm_origin(), i)
                continue
            for wdg in doc.get("widgets", []):
                x1, y1, x2, y2 = (int(v) for v in wdg["bbox"])
                out.append(Element(spec.app, i, wdg["id"], wdg["role"], str(wdg.get("label") or ""), (x1, y1, x2, y2),
                                   spec.lang, {k: v for k, v in wdg.items() if k not in ("id", "role", "label", "bbox")}))
        return out


def xterm_elements(doc: dict[str, Any], origin: tuple[int, int], window: int) -> list[Element]:
    """The words of an xterm scene as elements, boxed by the terminal's own cell geometry."""
    cols, rows = doc["chars"]
    width, height = doc["text_px"]
    cw, ch = width / cols, height / rows
    ox, oy = origin
    out = []
    for n, tok in enumerate(doc["tokens"]):
        x1 = ox + round(tok["col"] * cw)
        y1 = oy + round(tok["row"] * ch)
        x2 = ox + round((tok["col"] + len(tok["text"])) * cw)
        y2 = oy + round((tok["row"] + 1) * ch)
        out.append(Element("xterm", window, f"token_{n}", "word", tok["text"], (x1, y1, x2, y2), "en",
                           {"kind": tok.get("kind", "text"), "row": tok["row"], "col": tok["col"]}))
    return out


def _center(box: Sequence[float]) -> tuple[int, int]:
    return (int((box[0] + box[2]) // 2), int((box[1] + box[3]) // 2))


def _wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout:g} s")
        time.sleep(0.02)


def open_scene(sandbox: Any, scene: Scene, *, timeout: float = 20.0, tag: str | None = None) -> OpenScene:
    """Start a scene's windows in ``sandbox`` (one after the other, each ready before the next, so
    stacking and focus are the same every time), then click its ``prepare`` widgets and let it settle."""
    from tasks.checkers import settle
    from tasks.setup import wait_ready

    tag = tag or sandbox.id
    paths = []
    for i, spec in enumerate(scene.windows):
        for path, text in spec.files:
            sandbox.write_file(path, text)
        state = f"/tmp/ground-{tag}-{i}-{spec.app}.json"
        sandbox.launch(spec.argv(state))
        wait_ready(sandbox, state, timeout)
        paths.append(state)
    opened = OpenScene(sandbox, scene, paths)
    clicks = [(i, wid) for i, spec in enumerate(scene.windows) for wid in spec.prepare if not opens_menu(wid)]
    clicks += [(i, wid) for i, spec in enumerate(scene.windows) for wid in spec.prepare if opens_menu(wid)]
    for i, wid in clicks:
        spec = scene.windows[i]
        doc = opened.state(i)
        target = next((w for w in doc["widgets"] if w["id"] == wid), None)
        if target is None:
            raise RuntimeError(f"scene {scene.index}: window {i} ({spec.app}) shows no widget {wid!r} to click")
        releases = doc.get("input", {}).get("releases", 0)
        x, y = _center(target["bbox"])
        sandbox.act({"type": "click", "x": x, "y": y})
        _wait(lambda: opened.state(i).get("input", {}).get("releases", 0) > releases, timeout,
              f"scene {scene.index}: {spec.app} did not handle the click on {wid!r}")
        if target["role"] in ("menu", "combobox"):
            _wait(lambda: any(w["role"] == "menuitem" for w in opened.state(i)["widgets"]), timeout,
                  f"scene {scene.index}: the menu of {wid!r} did not open")
    settle(sandbox, quiet=0.2, timeout=5.0)
    return opened


# ---------------------------------------------------------------------------------- instructions
_EN: dict[str, list[str]] = {
    "button": ['click the "{label}" button', "{label} button", "the button labelled {label}", 'press "{label}"'],
    "label": ['the text "{label}"', "the label {label}"],
    "heading": ['the heading "{label}"', "{label} title"],
    "status": ['the status message "{label}"', "status text {label}"],
    "entry": ["the {label} input field", "text box for the {label}", "{label} field"],
    "combobox": ["the {label} drop-down", "{label} selector"],
    "menu": ["the {label} menu", "{label} menu in the menu bar"],
    "menuitem": ['the "{label}" menu item', "{label} in the open menu", "choose {label} from the menu"],
    "tab": ["the {label} tab", 'switch to the "{label}" tab'],
    "radio": ['the "{label}" option', "radio button {label}", "select {label}"],
    "checkbox": ['the "{label}" checkbox', "check box {label}"],
    "listitem": ['the task "{label}" in the list', "to-do item {label}"],
    "list": ["the task list"],
    "scrollbar": ["the scroll bar of the task list"],
    "text": ["the text editing area", "the document text area"],
    "slider": ["the {label} slider handle", "the knob of the {label} slider"],
    "display": ["the calculator display"],
    "digit": ["the {label} key", 'calculator button "{label}"'],
    "operator": ["the {name} key ({label})", "the {label} button of the calculator"],
    "listing": ["the file {label} in the ls output", "{label} in the terminal listing"],
    "modified": ["the modified file {label} in the git status output"],
    "branch": ["the branch name {label} in the terminal"],
    "command": ['the command "{label}" in the terminal', "{label} command in the shell history"],
    "argument": ['the argument "{label}" in the terminal'],
    "word": ['"{label}" in the terminal', "the word {label} in the terminal window"],
}
_CN: dict[str, list[str]] = {
    "button": ["点击“{label}”按钮", "“{label}”按钮"], "label": ["文字“{label}”"], "heading": ["标题“{label}”"],
    "status": ["状态信息“{label}”"], "entry": ["{label}输入框", "“{label}”文本框"], "combobox": ["{label}下拉框"],
    "menu": ["“{label}”菜单"], "menuitem": ["菜单项“{label}”"], "tab": ["“{label}”选项卡"],
    "radio": ["“{label}”单选按钮"], "checkbox": ["“{label}”复选框"], "listitem": ["列表中的任务“{label}”"],
    "list": ["任务列表"], "scrollbar": ["任务列表的滚动条"], "text": ["文本编辑区"], "slider": ["{label}滑块"],
    "display": ["计算器显示屏"], "digit": ["计算器的“{label}”键"], "operator": ["计算器的{name_cn}键（{label}）"],
    "listing": ["终端 ls 输出中的文件 {label}"], "modified": ["git status 输出中被修改的文件 {label}"],
    "branch": ["终端中的分支名 {label}"], "command": ["终端中的命令“{label}”"], "argument": ["终端中的参数“{label}”"],
    "word": ["终端中的“{label}”"],
}
ICON_KINDS = {"entry", "combobox", "list", "scrollbar", "text", "slider", "operator"}


def _strip(label: str) -> str:
    return label.strip().rstrip(":：").strip()


def element_kind(e: Element, by_id: dict[str, Element]) -> tuple[str, str] | None:
    """(template kind, the label to name it by) for an element, or None when it is left out.

    Left out: slider ticks and value read-outs (numbers repeated under each slider), labels
    without text, terminal prompts and words that are only filler.
    """
    wid, role, label = e.widget_id, e.role, _strip(e.label)
    if e.app == "xterm":
        kind = e.extra.get("kind", "text")
        if kind in ("prompt", "text") or len(label) < 2:
            return None
        return (kind, label)
    if "_tick_" in wid or wid.endswith("_value"):
        return None
    if e.app == "calc":
        if wid == "display":
            return ("display", label)
        if role == "button":
            return ("operator", label) if label in CALC_OPS else ("digit", label)
    if role == "label":
        if not label:
            return None
        if wid == "heading":
            return ("heading", label)
        if wid.endswith("status_label") or wid == "summary_label":
            return ("status", label)
        return ("label", label)
    if role == "combobox":
        field = by_id.get(wid.rsplit("_", 1)[0] + "_label")
        return ("combobox", _strip(field.label) if field else label) if (field or label) else None
    if role in ("list", "scrollbar", "text"):
        return (role, label)
    if role in _EN:
        return (role, label) if label else None
    return None


def ui_type(kind: str) -> str:
    """``icon`` for elements found by shape or a neighbouring label, ``text`` for those showing their words."""
    return "icon" if kind in ICON_KINDS else "text"


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def instructions(elements: list[Element], titles: list[str], rng: random.Random) -> list[tuple[Element, str, str, str, str]]:
    """(element, kind, instruction, instruction_cn, ui_type) for every element worth asking about.

    An element that another one on the same screen could be confused with (same kind and label) is
    named with its window's title when they are in different windows, and left out otherwise.
    """
    by_window: dict[int, dict[str, Element]] = {}
    for e in elements:
        by_window.setdefault(e.window, {})[e.widget_id] = e
    kinds = [(e, element_kind(e, by_window[e.window])) for e in elements]
    keys = Counter((k[0], _norm(k[1])) for _, k in kinds if k)
    per_window = Counter((e.window, k[0], _norm(k[1])) for e, k in kinds if k)
    out = []
    for e, k in kinds:
        if k is None:
            continue
        kind, label = k
        key = (kind, _norm(label))
        if per_window[(e.window, *key)] > 1:
            continue
        name = CALC_OPS.get(label, "")
        fields = {"label": label, "name": name, "name_cn": CALC_OPS_ZH.get(label, "")}
        en = rng.choice(_EN[kind]).format(**fields)
        cn = rng.choice(_CN[kind]).format(**fields)
        if keys[key] > 1:
            en += f" in the {titles[e.window]} window"
            cn = f"“{titles[e.window]}”窗口中的{cn}"
        out.append((e, kind, en, cn, ui_type(kind)))
    return out


WEIGHTS = {"label": 0.35, "heading": 0.35, "status": 0.35, "display": 0.6, "digit": 0.6}


def weighted_pick(candidates: list[tuple[Element, str, str, str, str]], k: int,
                  rng: random.Random) -> list[tuple[Element, str, str, str, str]]:
    """``k`` candidates without replacement, plain labels less likely and icon-type elements more
    (a mix nearer ScreenSpot-Pro's), deterministic for ``rng`` (weighted random keys, largest first)."""
    def weight(kind: str) -> float:
        return 1.6 if kind in ICON_KINDS else WEIGHTS.get(kind, 1.0)

    keyed = sorted(((rng.random() ** (1 / weight(c[1])), i) for i, c in enumerate(candidates)), reverse=True)
    return [candidates[i] for _, i in keyed[:k]]


# ---------------------------------------------------------------------------------- the set
@dataclass
class GenerationReport:
    """What ``generate_set`` wrote."""

    out: Path
    records: int
    scenes: int
    per_app: dict[str, int]
    per_type: dict[str, int]
    per_screen: dict[str, int]
    seconds: float


def _capture(opened: OpenScene, attempts: int = 4) -> tuple[Any, list[dict[str, Any]]]:
    """A screenshot and the states read just before and after it, identical (else try again)."""
    from tasks.checkers import settle

    for _ in range(attempts):
        before = opened.states()
        frame = opened.sandbox.screenshot()
        after = opened.states()
        if [d.get("widgets") for d in before] == [d.get("widgets") for d in after]:
            return frame, after
        settle(opened.sandbox, quiet=0.2, timeout=5.0)
    raise RuntimeError(f"scene {opened.scene.index}: the windows kept changing while being captured")


def _shoot_scene(seed: int, index: int, n_wanted: int, *, screens: Sequence[tuple[int, int]], apps: Sequence[str],
                 per_scene: int, isolate: bool) -> tuple["Scene", Any, list[dict[str, Any]], list[str], list[tuple]]:
    """Scene ``index``: drawn in a fresh sandbox, captured, and up to ``n_wanted`` samples picked from the
    elements inside the screen. (scene, frame, the windows' published states, titles, the picked samples)."""
    from sandbox import Sandbox

    scene = plan_scene(seed, index, screens=screens, apps=apps)
    rng = random.Random(f"{seed}/{index}/pick")
    with Sandbox(scene.width, scene.height, isolate=isolate, allow_unisolated=not isolate) as sb:
        opened = open_scene(sb, scene, tag=f"{sb.id}-{index}")
        frame, states = _capture(opened)
        elements = opened.elements(states)
    titles = [window_title(w) for w in scene.windows]
    candidates = [c for c in instructions(elements, titles, rng)
                  if 0 <= c[0].bbox[0] < c[0].bbox[2] <= scene.width and 0 <= c[0].bbox[1] < c[0].bbox[3] <= scene.height]
    return scene, frame, states, titles, weighted_pick(candidates, min(per_scene, n_wanted), rng)


def _record(sample: tuple, img_name: str, scene: Scene, index: int, number: int) -> dict[str, Any]:
    """One ScreenSpot-Pro annotation record (plus the generator's own fields) for a picked sample."""
    e, kind, en, cn, typ = sample
    return {
        "img_filename": img_name, "bbox": list(e.bbox), "instruction": en, "instruction_cn": cn,
        "id": f"{e.app}_{PLATFORM}_{number}", "application": e.app, "platform": PLATFORM,
        "img_size": [scene.width, scene.height], "ui_type": typ, "group": GROUPS[e.app],
        "scene": index, "window": e.window, "widget_id": e.widget_id, "role": e.role, "kind": kind,
        "label": e.label, "lang": e.lang,
    }


def _scene_doc(scene: Scene, img_name: str, titles: list[str], states: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``scenes.json`` says about one scene: its plan, image, titles and what each window published."""
    return {**scene.to_json(), "image": img_name, "titles": titles,
            "published": [{"app": s.app, "widgets": d.get("widgets"), "chars": d.get("chars"),
                           "text_px": d.get("text_px"), "tokens": d.get("tokens")}
                          for s, d in zip(scene.windows, states)]}


def generate_set(out: str | Path, n: int = 100, seed: int = 0, *, screens: Sequence[tuple[int, int]] = SCREENS,
                 apps: Sequence[str] = APPS, per_scene: int = PER_SCENE, isolate: bool = True,
                 log: Callable[[str], None] | None = None) -> GenerationReport:
    """Generate ``n`` samples into ``out`` (see the module docstring); returns a summary.

    ``out`` must be empty or not exist. Each scene runs in a fresh sandbox; the same ``seed`` (and
    ``screens``/``apps``/``per_scene``) gives the same records.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    unknown = [a for a in apps if a not in APPS]
    if unknown:
        raise ValueError(f"unknown app(s) {', '.join(unknown)}; known: {', '.join(APPS)}")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    started = time.monotonic()
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    (out / "images" / "scenes").mkdir(parents=True, exist_ok=True)
    records: dict[str, list[dict[str, Any]]] = {}
    scenes_doc: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    total = index = empty_in_a_row = 0
    while total < n:
        index += 1
        scene, frame, states, titles, chosen = _shoot_scene(seed, index, n - total, screens=screens, apps=apps,
                                                             per_scene=per_scene, isolate=isolate)
        if not chosen:
            empty_in_a_row += 1
            if empty_in_a_row > 20:
                raise RuntimeError("20 scenes in a row gave no usable element")
            continue
        empty_in_a_row = 0
        img_name = f"scenes/scene_{index:04d}.png"
        frame.save(out / "images" / img_name, compress_level=6)
        for sample in chosen:
            app_records = records.setdefault(sample[0].app, [])
            app_records.append(_record(sample, img_name, scene, index, len(app_records)))
            counts.update([f"app:{sample[0].app}", f"type:{sample[4]}", f"screen:{scene.width}x{scene.height}"])
        total += len(chosen)
        scenes_doc.append(_scene_doc(scene, img_name, titles, states))
        if log:
            log(f"scene {index}: {scene.width}x{scene.height}, {', '.join(w.app for w in scene.windows)} — "
                f"{len(chosen)} samples ({total}/{n})")
    _write_set(out, records, {"seed": seed, "n": n, "screens": [list(s) for s in screens], "apps": list(apps),
                              "per_scene": per_scene, "scenes": scenes_doc})
    pick = lambda p: {k.split(":", 1)[1]: v for k, v in sorted(counts.items()) if k.startswith(p)}  # noqa: E731
    return GenerationReport(out, total, len(scenes_doc), pick("app:"), pick("type:"), pick("screen:"),
                            time.monotonic() - started)


def _write_set(out: Path, records: dict[str, list[dict[str, Any]]], plan: dict[str, Any]) -> None:
    """The annotation file of each app and ``scenes.json`` (the generator, its code digest and the plan)."""
    for app, recs in sorted(records.items()):
        (out / "annotations" / f"{app}_{PLATFORM}.json").write_text(
            json.dumps(recs, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (out / "scenes.json").write_text(json.dumps(
        {"generator": "screenact make-grounding-set", "version": GENERATOR_VERSION, "code": code_digest(), **plan},
        ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def code_digest() -> str:
    """A digest of the code that draws the scenes (the bundled apps, the terminal session, the sandbox's
    window manager set-up): a set regenerates identically only where this matches its ``scenes.json``."""
    import hashlib

    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    files = sorted((root / "tasks" / "apps").glob("*.py")) + [Path(__file__).with_name("xterm_scene.py")]
    files += sorted((root / "sandbox").glob("*.py"))
    files += sorted(p for p in (root / "sandbox").rglob("*") if p.is_file() and p.suffix in (".xml", ".conf", ".rc"))
    for f in files:
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def load_scenes(out: str | Path) -> dict[int, Scene]:
    """The scenes of a generated set by index (from its ``scenes.json``)."""
    doc = json.loads((Path(out) / "scenes.json").read_text(encoding="utf-8"))
    return {s["index"]: Scene.from_json(s) for s in doc["scenes"]}


def remove_generated(out: str | Path) -> None:
    """Delete what ``generate_set`` writes in ``out`` (for ``--overwrite``), nothing else."""
    out = Path(out)
    for name in ("annotations", "images"):
        if (out / name).is_dir():
            shutil.rmtree(out / name)
    (out / "scenes.json").unlink(missing_ok=True)
