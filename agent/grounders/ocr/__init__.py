"""The OCR grounder: an embedded grounder on the CPU — read the screen's text, click the text that matches.

No GPU, no model server, no download: RapidOCR (``rapidocr-onnxruntime``, the optional extra
``screenact[ocr]``) ships its PP-OCRv4 detection and recognition models (Chinese + English) in the
wheel and runs them through onnxruntime. It is imported on first use only.

How a description becomes a point:

1. **Target text and role** (:func:`parse_target`, in :mod:`.targets`; role words in :mod:`.roles`). Quoted text wins (``'…'``, ``"…"``, ``“…”``, ``「…」``);
   otherwise leading articles and verbs ("click the", "点击") and the trailing role noun ("button",
   "field", "menu item", "按钮", "输入框", …, with anything after it such as "in the toolbar") are
   stripped. A whole step such as "type 'Alice' into the Email field" is reduced to its target
   ("the Email field") first. Role nouns that name an entry (field, box, entry, input, text area,
   dropdown, combo box, 输入框, 文本框, 下拉框, 框, 栏, …) mark the target as a **field**.
2. **Read** the frame once (:meth:`OCRGrounder.read`, the engine in :mod:`.engine`): text lines with their boxes and per-character
   boxes, cached by frame content (the colour bytes), so several steps on one frame run OCR once.
   A new frame is read only where it differs from a recent one (:mod:`.incremental`: changed 32-px
   tiles, re-detected with a margin of context; only lines touching the change are recognised, and
   the recogniser remembers every crop it read); a whole read happens on a task's first frame or when
   most of the screen changed.
3. **Match** (:func:`match_score`, in :mod:`.text`; ranking in :mod:`.lines`), case-, width-, punctuation- and whitespace-insensitive (NFKC,
   casefold, only letters and digits kept; CJK compares character by character; a target made of
   symbols only, like "+" or "÷", compares the symbols): exact 1.0 > whole words inside a line
   0.85–0.95 > characters inside a line 0.75–0.85 > fuzzy (difflib ratio × 0.85, also against
   same-length windows of a longer line). Lines side by side on one row are also tried joined, for a
   label the detector split in two; the target's gentler readings (:class:`Target`) are tried too.
   The best candidate at or above ``threshold`` (default 0.7) wins; ties go to the longer target
   text, then the higher recognition confidence, then the topmost, leftmost. Below the threshold the
   answer is None — "not found", honestly.
   For a target of one or two characters that nothing matched ("7", "+", "OK" on a key), a second,
   cached pass (:meth:`OCRGrounder.read_glyphs`) finds isolated glyph-shaped marks in the pixels
   (:func:`find_glyphs`, in :mod:`.pixels`) — text detectors miss lone characters — and recognises each one.
   A role that has a shape of its own is then found beside the matched label (:mod:`.controls`): a
   checkbox's square mark or a radio button's round one next to it, a slider's handle in the trough
   beside or under it; a label without that shape is "not found". Words placed in a terminal ("the
   file X in the ls output") are read by the terminal's line structure instead (:mod:`.terminal`).
4. **Point.** For a match inside a longer line, the centre of the matched characters; otherwise the
   centre of the text's box. For a field, the text found is its label, and the click must land in the
   entry beside it: scanning the pixels right of the label (up to ``field_search_px``) for the first
   vertical edge taller than the label's glyphs, then following that edge up and down and looking
   for the opposite edge, gives the entry's rectangle (:func:`find_entry_right_of`), whose centre is
   returned. When no rectangle is found the point is ``field_offset`` px right of the label's right
   edge, on its centre line. Entries placed under their label, and entries with only placeholder
   text inside, are not handled; when the same text is on screen twice (a calculator's display "0"
   and its "0" key) the detector's line wins.

Speed: OCR of a 1920×1080 frame takes ~1–2 s on 2 idle cores; a step on a frame already read costs
about a millisecond. ``scale`` < 1 shrinks the frame before OCR (faster, worse on small text);
``region`` in :meth:`locate` reads only part of the screen. The detector runs at native resolution up
to 2000 px (see :data:`ENGINE_DEFAULTS`) and the angle classifier is off (screen text is upright).
"""

from agent.grounders.ocr.engine import ENGINE_DEFAULTS, INSTALL_HINT, OCRUnavailable
from agent.grounders.ocr.grounder import OCRGrounder
from agent.grounders.ocr.lines import TextBox
from agent.grounders.ocr.pixels import find_entry_right_of, find_glyphs
from agent.grounders.ocr.targets import Target, parse_target
from agent.grounders.ocr.text import match_score, normalize

__all__ = ["ENGINE_DEFAULTS", "INSTALL_HINT", "OCRGrounder", "OCRUnavailable", "Target", "TextBox",
           "find_entry_right_of", "find_glyphs", "match_score", "normalize", "parse_target"]
