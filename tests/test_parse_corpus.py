"""Every reply in tests/corpus/replies/<fmt>/*.txt parses to what its *.expected.json sidecar says.

Sidecar keys: ``actions`` (list of action dicts, compared as validated Actions), ``error`` (a
ParseError whose message contains this text, or — with ``unclosed`` — the Parsed.errors text),
``thought`` (a substring of Parsed.thought), ``action_text`` (exact), ``point`` (parse_point result).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.actions import ACTION_LIST_ADAPTER
from tools.parse import FORMATS, ParseError, parse, parse_point

CORPUS = Path(__file__).parent / "corpus" / "replies"
CASES = sorted(CORPUS.glob("*/*.txt"))


def _expected(path: Path) -> dict:
    return json.loads(path.with_name(path.name.removesuffix(".txt") + ".expected.json").read_text(encoding="utf-8"))


def test_corpus_covers_every_format_richly() -> None:
    for fmt in FORMATS:
        assert len(list((CORPUS / fmt).glob("*.txt"))) >= 8, fmt
    for path in CASES:
        assert path.with_name(path.name.removesuffix(".txt") + ".expected.json").exists(), path


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_corpus_reply(path: Path) -> None:
    fmt = path.parent.name
    text = path.read_text(encoding="utf-8")
    exp = _expected(path)
    if "error" in exp and not exp.get("unclosed"):
        with pytest.raises(ParseError) as info:
            parse(text, fmt)
        assert exp["error"] in str(info.value)
        assert "Nothing was executed" in str(info.value)
        assert info.value.parsed is not None and info.value.parsed.actions == []
        return
    parsed = parse(text, fmt)
    if exp.get("unclosed"):
        assert parsed.thinking_unclosed and parsed.actions == []
        assert any(exp["error"] in e for e in parsed.errors)
    else:
        assert parsed.errors == [] and parsed.ok
        assert parsed.actions == ACTION_LIST_ADAPTER.validate_python(exp["actions"])
    if "thought" in exp:
        assert parsed.thought is not None and exp["thought"] in parsed.thought
    if "action_text" in exp:
        assert parsed.action_text == exp["action_text"]
    if "point" in exp:
        assert parse_point(text, fmt) == pytest.approx(tuple(exp["point"]))
