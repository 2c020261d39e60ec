"""Tokens per agent step for every profile, and how many screenshots fit in one request.

    .venv/bin/python bench/bench_tokens.py

For 1920x1080 and 2560x1440 screens: the image tokens of one screenshot (exact rule + markers), the
text of a typical first request (system prompt + instruction, conservative estimate), the tokens one
history step adds (its screenshot + its replayed reply), and how many screenshots fit in one request
at 8192 and 32768 context with the profile's answer floor reserved. Then the cost of encoding a
desktop-like frame as PNG or JPEG. Numbers are measured in this run; nothing is hard-coded.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image, ImageDraw  # noqa: E402

from agent.budget import estimate_message_tokens  # noqa: E402
from agent.images import encode, strip_images  # noqa: E402
from agent.profiles import PROFILES  # noqa: E402
from agent.prompts import HistoryStep, build_agent_messages  # noqa: E402
from tools.frame import Frame  # noqa: E402

SCREENS = [(1920, 1080), (2560, 1440)]
CONTEXTS = [8192, 32768]
CORPUS = Path(__file__).resolve().parents[1] / "tests" / "corpus" / "kimi"


def desktop(w: int, h: int) -> Frame:
    """A desktop-like frame: panels, windows, lines of text, a photo-ish gradient."""
    img = Image.new("RGB", (w, h), (44, 62, 80))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, w, 28), fill=(30, 30, 30))
    for i in range(3):
        x0, y0 = 80 + i * w // 4, 80 + i * 90
        x1, y1 = x0 + w // 2, y0 + h // 2
        d.rectangle((x0, y0, x1, y1), fill=(246, 246, 246), outline=(120, 120, 120))
        d.rectangle((x0, y0, x1, y0 + 30), fill=(220, 220, 225))
        for line in range(0, (y1 - y0 - 60) // 18):
            d.text((x0 + 12, y0 + 42 + line * 18), f"Line {line}: the quick brown fox jumps over the lazy dog 0123456789",
                   fill=(20, 20, 20))
    for x in range(w // 2, w - 40):
        d.line((x, h - 300, x, h - 60), fill=((x * 7) % 256, (x * 3) % 256, 160))
    return Frame.from_image(img)


def typical_reply() -> tuple[str, str]:
    text = (CORPUS / "01_click_save.txt").read_text(encoding="utf-8")
    thought, _, answer = text.partition("◁/think▷")
    return thought.replace("◁think▷", ""), answer


def main() -> None:
    thought, answer = typical_reply()
    print("Tokens per step (image tokens: exact rule + markers; text: conservative estimate)\n")
    header = (f"{'profile':24} {'screen':>9} {'sent':>9} {'img tok':>7} {'1st req':>7} {'+/step':>6} "
              + " ".join(f"{'fit@' + str(c):>9}" for c in CONTEXTS))
    print(header)
    print("-" * len(header))
    for screen in SCREENS:
        frame = desktop(*screen)
        for profile in PROFILES.values():
            image = profile.prepare(frame)
            img_tokens = image.image_tokens + profile.image_overhead_tokens
            first = build_agent_messages(profile, "Export the sheet as CSV into ~/out.csv.", [], image, screen)
            first_tokens = estimate_message_tokens(strip_images(first)) + img_tokens
            step = HistoryStep(index=1, answer=answer, thought=thought if profile.thinking else None, image=image)
            with_one = build_agent_messages(profile, "Export the sheet as CSV into ~/out.csv.", [step], image, screen)
            per_step = estimate_message_tokens(strip_images(with_one)) + 2 * img_tokens - first_tokens
            floor = profile.agent_sampling.max_tokens_floor
            fits = []
            for context in CONTEXTS:
                room = context - 16 - floor - first_tokens
                fits.append("none" if room < 0 else f"1+{room // per_step}")
            print(f"{profile.name:24} {screen[0]}x{screen[1]:<4} {image.width}x{image.height:<4} {img_tokens:7d} "
                  f"{first_tokens:7d} {per_step:6d} " + " ".join(f"{f:>9}" for f in fits))
        print()
    print("fit@N: screenshots in one request = the current one + history steps with theirs, after reserving")
    print("the profile's answer floor (max_tokens_floor) and a 16-token margin.\n")

    print("Encoding a desktop-like frame (median of 5)\n")
    print(f"{'screen':>9} {'encoding':>12} {'bytes':>9} {'ms':>7}")
    for screen in SCREENS:
        img = desktop(*screen).image()
        for name, kwargs in [("png level 1", {"encoding": "png", "png_level": 1}),
                             ("png level 6", {"encoding": "png", "png_level": 6}),
                             ("jpeg q85", {"encoding": "jpeg", "jpeg_quality": 85}),
                             ("jpeg q95", {"encoding": "jpeg", "jpeg_quality": 95})]:
            times, size = [], 0
            for _ in range(5):
                t = time.perf_counter()
                size = len(encode(img, **kwargs))
                times.append((time.perf_counter() - t) * 1000)
            print(f"{screen[0]}x{screen[1]:<4} {name:>12} {size:9d} {statistics.median(times):7.1f}")


if __name__ == "__main__":
    main()
