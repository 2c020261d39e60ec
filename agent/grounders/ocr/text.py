"""Comparing a target with text OCR read: normalization and the match score (see :mod:`agent.grounders.ocr`)."""

from __future__ import annotations

import difflib
import unicodedata


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x2E80 <= o <= 0x9FFF or 0xAC00 <= o <= 0xD7AF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x2FFFF


# a lone dash may come back as any of these (一 and ー are the CJK look-alikes the recogniser prefers)
_DASHES = str.maketrans({c: "-" for c in "−–—‐‑‒―﹣一ー"})
# Operator glyphs and what OCR reads them as: a calculator's "×" comes back as "x" or "X", "÷" as "/".
_SYMBOLS = str.maketrans({"×": "x", "✕": "x", "✖": "x", "X": "x", "*": "x", "÷": "/", "∕": "/"})


def normalize(text: str) -> str:
    """Text for matching: NFKC, casefolded, every run of non-alphanumerics one space, CJK characters spaced apart."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFKC", text).casefold():
        if ch.isalnum():
            if _is_cjk(ch):
                out.append(f" {ch} ")
            else:
                out.append(ch)
        else:
            out.append(" ")
    return " ".join("".join(out).split())


def match_score(target: str, text: str) -> tuple[float, str]:
    """(score in [0, 1], kind) of on-screen ``text`` for ``target`` — kind is exact, words, chars, fuzzy or none."""
    qn, tn = normalize(target), normalize(text)
    q, t = qn.replace(" ", ""), tn.replace(" ", "")
    if not q:  # a target of symbols only ("+", "÷", "−"): compare the symbols themselves
        sq = "".join(unicodedata.normalize("NFKC", target).translate(_DASHES).translate(_SYMBOLS).split())
        st = "".join(unicodedata.normalize("NFKC", text).translate(_DASHES).translate(_SYMBOLS).split())
        if sq and sq == st:
            return 1.0, "exact"
        return (0.75, "chars") if sq and sq in st and len(st) <= 3 * len(sq) else (0.0, "none")
    if not t:
        return 0.0, "none"
    if q == t:
        return 1.0, "exact"
    coverage = len(q) / len(t)
    if f" {qn} " in f" {tn} ":
        return 0.85 + 0.1 * coverage, "words"
    if q in t and (len(q) >= 3 or any(_is_cjk(c) for c in q)):
        return 0.75 + 0.1 * coverage, "chars"
    ratio = difflib.SequenceMatcher(None, q, t, autojunk=False).ratio()
    if len(q) >= 4 and len(t) > len(q) + 1:
        # an OCR slip inside a longer line: compare with the windows of the target's length around the
        # longest common block (a few comparisons, not one per position)
        n = len(q)
        block = difflib.SequenceMatcher(None, t, q, autojunk=False).find_longest_match(0, len(t), 0, n)
        if block.size:
            origin = min(max(block.a - block.b, 0), len(t) - n)
            best = max(difflib.SequenceMatcher(None, q, t[i:i + n], autojunk=False).ratio()
                       for i in range(max(0, origin - 1), min(len(t) - n, origin + 1) + 1))
            ratio = max(ratio, best * (0.8 + 0.15 * coverage))
    return 0.85 * ratio, "fuzzy"


__all__ = ["match_score", "normalize"]
