"""Loaders for ScreenSpot, ScreenSpot-v2 and ScreenSpot-Pro, with the format told from the folder.

The three benchmarks (docs/model-interface.md §5) differ in layout and, importantly, in their box convention:

===============  =========================================  ======================  ==================
format           annotation files                           images                  ``bbox``
===============  =========================================  ======================  ==================
screenspot       ``screenspot_{mobile,desktop,web}.json``   ``screenspot_imgs/``    ``[x, y, w, h]``
screenspot-v2    ``screenspot_{desktop,mobile,web}_v2.json`` ``screenspotv2_image/`` ``[x, y, w, h]``
screenspot-pro   ``annotations/<app>_<platform>.json``      ``images/``             ``[x1, y1, x2, y2]``
===============  =========================================  ======================  ==================

Every loader yields :class:`Sample` records whose ``bbox`` is ``(x1, y1, x2, y2)`` in pixels of the
original image, so scoring never needs to know where a sample came from. A record that does not fit
its format raises :class:`DatasetError` naming the file, the record index and the field.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator

Format = Literal["screenspot", "screenspot-v2", "screenspot-pro"]
FORMATS: tuple[str, ...] = get_args(Format)
UIType = Literal["text", "icon"]

_SS_FILE = re.compile(r"screenspot_([A-Za-z0-9]+)\.json")
_SS2_FILE = re.compile(r"screenspot_([A-Za-z0-9]+)_v2\.json")
_IMAGE_DIRS: dict[str, tuple[str, ...]] = {
    "screenspot": ("screenspot_imgs", "screenspotv2_image", "images", "."),
    "screenspot-v2": ("screenspotv2_image", "screenspot_imgs", "images", "."),
    "screenspot-pro": ("images", "."),
}


class DatasetError(ValueError):
    """A dataset that cannot be read; the message names the file, record index and field when known."""

    def __init__(self, message: str, *, file: Path | None = None, index: int | None = None,
                 field: str | None = None) -> None:
        self.file, self.index, self.field = file, index, field
        where = []
        if file is not None:
            where.append(str(file))
        if index is not None:
            where.append(f"record {index}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{': '.join(where)}: {message}" if where else message)


Number = Annotated[float, Strict()]  # ints pass; strings and booleans do not


def _ui_type(v: str) -> str:
    low = v.strip().lower() if isinstance(v, str) else v
    if low not in ("text", "icon"):
        raise ValueError(f"must be 'text' or 'icon', got {v!r}")
    return low


UIType = Annotated[str, AfterValidator(_ui_type)]
"""``text`` or ``icon`` (any case, surrounding blanks ignored)."""


class _Record(BaseModel):
    """What every ScreenSpot format's record holds; unknown fields are kept aside."""

    model_config = ConfigDict(extra="allow")

    img_filename: Annotated[str, Strict()] = Field(min_length=1)
    bbox: list[Number]
    instruction: Annotated[str, Strict()] = Field(min_length=1)


class _ScreenSpotRecord(_Record):
    """One record of ScreenSpot / ScreenSpot-v2 (SeeClick / OS-Atlas)."""

    data_type: UIType
    data_source: str | None = None


class _ProRecord(_Record):
    """One record of ScreenSpot-Pro."""

    instruction_cn: str | None = None
    id: str | int | None = None
    application: Annotated[str, Strict()] = Field(min_length=1)
    platform: Annotated[str, Strict()] = Field(min_length=1)
    img_size: list[Annotated[int, Strict()]] = Field(min_length=2, max_length=2)
    ui_type: UIType
    group: str | None = None

    @field_validator("img_size")
    @classmethod
    def _size(cls, v: list[int]) -> list[int]:
        if v[0] <= 0 or v[1] <= 0:
            raise ValueError(f"must be a positive [width, height], got {v}")
        return v


class Sample(BaseModel):
    """One grounding sample: an image, an instruction and the true box in original-image pixels.

    ``key`` (``<annotation file stem>#<record index>``) is unique within a dataset and stable across
    runs: resume and results use it. ``bbox`` is always ``(x1, y1, x2, y2)``, whatever the file held
    (``raw_bbox``). ``platform`` is ScreenSpot's mobile/desktop/web split (from the file name) or
    ScreenSpot-Pro's OS; ``application`` is ScreenSpot's ``data_source`` or ScreenSpot-Pro's application.
    """

    model_config = ConfigDict(frozen=True)

    key: str
    id: str | None = None
    image_path: Path
    img_filename: str
    instruction: str
    instruction_cn: str | None = None
    bbox: tuple[float, float, float, float]
    raw_bbox: tuple[float, float, float, float]
    ui_type: UIType
    platform: str
    application: str | None = None
    group: str | None = None
    img_size: tuple[int, int] | None = None
    source_file: str
    index: int
    extra: dict[str, Any] = Field(default_factory=dict)

    def prompt(self, lang: Literal["en", "cn"] = "en") -> str:
        """The instruction to ask with: English, or ScreenSpot-Pro's Chinese one (English when it has none)."""
        if lang == "cn" and self.instruction_cn:
            return self.instruction_cn
        return self.instruction


class Dataset(BaseModel):
    """A loaded dataset: where it is, its format, the annotation files read and the samples in order."""

    root: Path
    format: Format
    files: list[Path]
    samples: list[Sample]

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def name(self) -> str:
        return self.root.name


# ---------------------------------------------------------------------------------- detection
def _annotation_files(root: Path, fmt: str) -> list[Path]:
    """The annotation files of ``fmt`` under ``root`` (a folder), sorted by name."""
    if fmt == "screenspot-pro":
        folder = root / "annotations"
        return sorted(p for p in folder.glob("*.json") if p.is_file()) if folder.is_dir() else []
    pattern = _SS2_FILE if fmt == "screenspot-v2" else _SS_FILE
    found: list[Path] = []
    for folder in (root, root / "annotations"):
        if folder.is_dir():
            found += [p for p in folder.glob("*.json") if p.is_file() and pattern.fullmatch(p.name)]
    return sorted(found)


def detect_format(path: str | Path) -> Format:
    """Tell the format of a dataset folder (or of one annotation file) from its layout.

    ``annotations/*.json`` → screenspot-pro; ``screenspot_*_v2.json`` → screenspot-v2;
    ``screenspot_{mobile,desktop,web}.json`` → screenspot. Anything else raises DatasetError.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"no such file or folder: {path}")
    if path.is_file():
        if _SS2_FILE.fullmatch(path.name):
            return "screenspot-v2"
        if _SS_FILE.fullmatch(path.name):
            return "screenspot"
        if path.parent.name == "annotations":
            return "screenspot-pro"
        raise DatasetError(f"cannot tell the format of {path}: expected screenspot_<split>.json, "
                           "screenspot_<split>_v2.json or annotations/<app>_<platform>.json; pass --format")
    if _annotation_files(path, "screenspot-pro"):
        return "screenspot-pro"
    if _annotation_files(path, "screenspot-v2"):
        return "screenspot-v2"
    if _annotation_files(path, "screenspot"):
        return "screenspot"
    raise DatasetError(
        f"cannot tell the format of {path}: expected annotations/*.json (ScreenSpot-Pro), "
        "screenspot_<split>_v2.json (ScreenSpot-v2) or screenspot_<split>.json (ScreenSpot); pass --format")


# ---------------------------------------------------------------------------------- loading
def load_dataset(path: str | Path, fmt: str = "auto", *, check_images: bool = True) -> Dataset:
    """Load a dataset folder (or one annotation file) in ``fmt`` (``"auto"`` detects it).

    With ``check_images`` every referenced image must exist (else DatasetError naming the record).
    """
    path = Path(path)
    if fmt == "auto":
        fmt = detect_format(path)
    elif fmt not in FORMATS:
        raise DatasetError(f"unknown dataset format {fmt!r}; use auto or one of {', '.join(FORMATS)}")
    if not path.exists():
        raise DatasetError(f"no such file or folder: {path}")
    if path.is_file():
        files = [path]
        root = path.parent.parent if fmt == "screenspot-pro" and path.parent.name == "annotations" else path.parent
        if fmt != "screenspot-pro" and root.name == "annotations":
            root = root.parent
    else:
        root = path
        files = _annotation_files(root, fmt)
        if not files:
            where = "annotations/*.json" if fmt == "screenspot-pro" else (
                "screenspot_<split>_v2.json" if fmt == "screenspot-v2" else "screenspot_<split>.json")
            raise DatasetError(f"no {fmt} annotation files ({where}) in {root}")
    image_dirs = [root / d if d != "." else root for d in _IMAGE_DIRS[fmt]]
    samples: list[Sample] = []
    keys: set[str] = set()
    for file in files:
        for sample in _load_file(file, fmt, image_dirs, check_images):  # type: ignore[arg-type]
            if sample.key in keys:  # two files with one stem (root and annotations/): refuse, not mix
                raise DatasetError(f"annotation file stem {file.stem!r} occurs twice", file=file)
            keys.add(sample.key)
            samples.append(sample)
    return Dataset(root=root, format=fmt, files=files, samples=samples)  # type: ignore[arg-type]


def _read_records(file: Path) -> list[Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise DatasetError(f"not UTF-8 text ({e})", file=file) from e
    except json.JSONDecodeError as e:
        raise DatasetError(f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}", file=file) from e
    except OSError as e:
        raise DatasetError(f"cannot read: {e.strerror or e}", file=file) from e
    if not isinstance(data, list):
        raise DatasetError(f"expected a JSON list of records, found a {type(data).__name__}", file=file)
    return data


def _field_of(err: ValidationError) -> tuple[str, str]:
    first = err.errors()[0]
    loc = [str(p) for p in first.get("loc", ())]
    field = loc[0] if loc else "?"
    if len(loc) > 1:
        field += "".join(f"[{p}]" for p in loc[1:])
    msg = first.get("msg", "invalid")
    if first.get("type") == "missing":
        msg = "missing"
    elif "input" in first and first.get("type") != "missing":
        msg = f"{msg} (got {_short(first['input'])})"
    return field, msg


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _box(raw: list[float], convention: str, file: Path, index: int) -> tuple[float, float, float, float]:
    if len(raw) != 4:
        raise DatasetError(f"expected 4 numbers, got {len(raw)}: {_short(raw)}", file=file, index=index, field="bbox")
    if not all(math.isfinite(v) for v in raw):
        raise DatasetError(f"numbers must be finite, got {_short(raw)}", file=file, index=index, field="bbox")
    if convention == "xywh":
        x, y, w, h = raw
        if w < 0 or h < 0:
            raise DatasetError(f"[x, y, w, h] with a negative size: {_short(raw)}", file=file, index=index, field="bbox")
        return (x, y, x + w, y + h)
    x1, y1, x2, y2 = raw
    if x2 < x1 or y2 < y1:
        raise DatasetError(f"[x1, y1, x2, y2] with x2 < x1 or y2 < y1: {_short(raw)} "
                           "(is this an [x, y, w, h] dataset? pass --format)", file=file, index=index, field="bbox")
    return (x1, y1, x2, y2)


def _find_image(name: str, dirs: list[Path]) -> Path | None:
    """The image a record names, in the first image folder that has it; UnsafeFile for a name that is
    absolute, climbs out with ``..`` or leads through a link out of its image folder (the dataset is
    hostile: it must not make us read, and report on, any file of the machine)."""
    from tools.safe_files import inside  # here: the sandbox's view holds this module but not tools.safe_files

    for d in dirs:
        p = inside(d, name)
        if p.is_file():
            return p
    return None


def _load_file(file: Path, fmt: str, image_dirs: list[Path], check_images: bool) -> list[Sample]:
    from tools.safe_files import UnsafeFile  # here: the sandbox's view holds this module, not tools.safe_files

    records = _read_records(file)
    out: list[Sample] = []
    if fmt == "screenspot-pro":
        platform_hint = None
    else:
        m = (_SS2_FILE if fmt == "screenspot-v2" else _SS_FILE).fullmatch(file.name) or \
            _SS_FILE.fullmatch(file.name) or _SS2_FILE.fullmatch(file.name)
        platform_hint = m.group(1).lower() if m else file.stem
    for index, raw in enumerate(records):
        if not isinstance(raw, dict):
            raise DatasetError(f"expected a JSON object, found {_short(raw)}", file=file, index=index)
        try:
            rec: _ScreenSpotRecord | _ProRecord = (
                _ProRecord.model_validate(raw) if fmt == "screenspot-pro" else _ScreenSpotRecord.model_validate(raw))
        except ValidationError as e:
            field, msg = _field_of(e)
            raise DatasetError(msg, file=file, index=index, field=field) from None
        bbox = _box(rec.bbox, "xyxy" if fmt == "screenspot-pro" else "xywh", file, index)
        try:
            image = _find_image(rec.img_filename, image_dirs)
        except UnsafeFile as e:
            raise DatasetError(f"the image path leaves the dataset root: {e}", file=file, index=index,
                               field="img_filename") from None
        if image is None:
            if check_images:
                looked = ", ".join(str(d) for d in image_dirs)
                raise DatasetError(f"image {rec.img_filename!r} not found (looked in {looked})",
                                   file=file, index=index, field="img_filename")
            image = image_dirs[0] / rec.img_filename
        common = dict(key=f"{file.stem}#{index}", image_path=image, img_filename=rec.img_filename,
                      instruction=rec.instruction, bbox=bbox, raw_bbox=tuple(rec.bbox), source_file=file.name,
                      index=index, extra=dict(rec.model_extra or {}))
        if isinstance(rec, _ProRecord):
            out.append(Sample(**common, id=None if rec.id is None else str(rec.id), instruction_cn=rec.instruction_cn,
                              ui_type=rec.ui_type, platform=rec.platform, application=rec.application,
                              group=rec.group, img_size=(rec.img_size[0], rec.img_size[1])))
        else:
            out.append(Sample(**common, ui_type=rec.data_type, platform=platform_hint or "unknown",
                              application=rec.data_source))
    return out
