"""Label schemes: which ROIs to convert, and which label value, name, colour and codes each gets,
the same for every patient of a data set.

A scheme is a small JSON file::

    {"labels": [{"value": 3, "name": "lung_left",
                 "aliases": ["Lung-Left", "Lung_L", "L Lung"],
                 "pattern": "(?i)^l(ef)?t?[ _-]*lung$|^lung[ _-]*l(eft)?$",
                 "color": [0, 151, 206],
                 "type": {"CodeValue": "44029006", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Left lung"}}],
     "unmatched": "drop", "overlap": "layers", "priority": ["heart", "lung_left"],
     "include": [], "exclude": ["(?i)^z.*"]}

Rules (each one stated in README and tested with exact masks):

* **Matching.** An ROI name matches a label when, ignoring case, spaces, underscores and
  hyphens, it equals the label's ``name`` or one of its ``aliases``; otherwise when the label's
  ``pattern`` (a Python regular expression, searched in the name) matches. Names and aliases
  may belong to one label only (checked when the scheme is read). When the patterns of several
  labels match, the first label in the file wins and a warning names the others.
* **Selection.** ``include``/``exclude`` entries (and ``--include``/``--exclude``) select by
  ROI name or by the label name the ROI maps to. An entry selects a name when any of three
  holds: it equals the name (same normalisation as above); it matches the name as a shell-style
  glob ignoring case (``lung*``, ``gtv?``, ``[lr]ung*``); it matches the whole name as a regular
  expression ignoring case (``lung.*``). With ``include`` entries only matching ROIs are
  converted; ``exclude`` then removes ROIs. Selecting never changes a label value: an ROI gets
  the value it gets in a run without the selection.
* **Unmatched ROIs** (selected, but no label): ``drop`` (reported, not converted), ``keep``
  (converted under their own names; the n-th unmatched ROI of the structure set, counting the
  ones left out by the selection too, gets the scheme's largest value + n, so without labels an
  ROI keeps its position in the structure set as its value), or ``fail`` (the whole structure
  set is refused, naming them).
* **Several ROIs on one label** (e.g. ``GTV-1`` and ``GTV-2`` by a pattern): the label is the
  union of their masks; a warning names them.
* **Overlap.** ``layers`` (default): overlapping labels go to separate label layers, as without
  a scheme. ``priority``: one label map; where labels overlap, the label earlier in
  ``priority`` (then in ``labels``) keeps the voxel, and a warning gives, per label, how many
  of its voxels went to which other label.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

from ..errors import DicomLabelMapError
from .segment import Code, Segment, SegmentAlgorithmType


class SchemeError(DicomLabelMapError):
    """A label scheme or segment metadata file that cannot be used; the message names the file
    and the entry."""


class Unmatched(str, Enum):
    """What happens to a selected ROI that matches no label."""

    DROP = "drop"
    KEEP = "keep"
    FAIL = "fail"


class Overlap(str, Enum):
    """How overlapping labels are stored."""

    LAYERS = "layers"
    PRIORITY = "priority"


#: :attr:`LabelScheme.source` of a selection without a scheme file.
SELECTION_SOURCE = "--include/--exclude"


def normalized(name: str) -> str:
    """A name compared ignoring case, spaces, underscores and hyphens."""
    return re.sub(r"[\s_\-]+", "", name).casefold()


@dataclass(frozen=True)
class LabelSpec:
    """One label of a scheme: its value in the label map, its name, how ROIs are matched to it,
    and the segment description it gets (unset fields come from the ROI)."""

    value: int
    name: str
    aliases: tuple[str, ...] = ()
    pattern: str | None = None
    color: tuple[int, int, int] | None = None
    description: str = ""
    category: Code | None = None
    type: Code | None = None
    type_modifier: Code | None = None
    anatomic_region: Code | None = None
    anatomic_region_modifier: Code | None = None
    algorithm_type: SegmentAlgorithmType | None = None
    algorithm_name: str = ""
    #: RT ROI Interpreted Type (3006,00A4) of the ROI this label becomes (ORGAN, PTV, EXTERNAL, ...);
    #: kept as the segment property ``RtRoiInterpretedType``.
    interpreted_type: str = ""

    def names(self) -> set[str]:
        """The normalised names that match this label exactly."""
        return {normalized(self.name)} | {normalized(alias) for alias in self.aliases}

    def describe(self, segment: Segment) -> Segment:
        """``segment`` named and described by this label (fields the label leaves unset keep the
        segment's)."""
        properties = dict(segment.properties)
        if self.interpreted_type:
            properties["RtRoiInterpretedType"] = self.interpreted_type
        return replace(
            segment,
            label=self.name or segment.label,
            description=self.description or segment.description,
            color=self.color or segment.color,
            category=self.category or segment.category,
            type=self.type or segment.type,
            type_modifier=self.type_modifier or segment.type_modifier,
            anatomic_region=self.anatomic_region or segment.anatomic_region,
            anatomic_region_modifier=self.anatomic_region_modifier or segment.anatomic_region_modifier,
            algorithm_type=self.algorithm_type or segment.algorithm_type,
            algorithm_name=self.algorithm_name or segment.algorithm_name,
            properties=properties,
        )


@dataclass(frozen=True)
class Match:
    """The label an ROI name maps to, and how it was found."""

    label: LabelSpec
    #: ``"name"``, ``"alias"`` or ``"pattern"``.
    by: str
    #: Other labels whose pattern matched too (the first one in the file won).
    also: tuple[str, ...] = ()


@dataclass
class LabelScheme:
    """ROI selection and fixed labels (see the module's rules)."""

    labels: list[LabelSpec] = field(default_factory=list)
    unmatched: Unmatched = Unmatched.DROP
    overlap: Overlap = Overlap.LAYERS
    #: Label values, highest priority first (``overlap: priority``); labels not listed follow in
    #: file order.
    priority: list[int] = field(default_factory=list)
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    #: Where the scheme came from (for messages), e.g. its file path.
    source: str = "label scheme"

    @classmethod
    def selection(cls, include: Iterable[str] = (), exclude: Iterable[str] = ()) -> LabelScheme:
        """No fixed labels, only a selection: the selected ROIs keep their names and the values a
        run without a selection gives them (their position in the structure set, 1, 2, ...)."""
        scheme = cls(unmatched=Unmatched.KEEP, source=SELECTION_SOURCE)
        return scheme.with_selection(include, exclude)

    def with_selection(self, include: Iterable[str] = (), exclude: Iterable[str] = ()) -> LabelScheme:
        """This scheme with more include/exclude entries (from the command line)."""
        include, exclude = tuple(include), tuple(exclude)
        for entry in include + exclude:
            _selector(entry, self.source)
        return replace(self, include=self.include + include, exclude=self.exclude + exclude)

    @property
    def has_labels(self) -> bool:
        return bool(self.labels)

    @property
    def is_selection_only(self) -> bool:
        """Only ``--include``/``--exclude``: no label of its own (built by :meth:`selection`)."""
        return not self.labels and self.source == SELECTION_SOURCE

    def label(self, value: int) -> LabelSpec:
        for label in self.labels:
            if label.value == value:
                return label
        raise KeyError(value)

    def match(self, roi_name: str) -> Match | None:
        """The label ``roi_name`` maps to, or ``None``."""
        key = normalized(roi_name)
        for label in self.labels:
            if key == normalized(label.name):
                return Match(label, "name")
            if key in {normalized(alias) for alias in label.aliases}:
                return Match(label, "alias")
        hits = [label for label in self.labels if label.pattern is not None and re.search(label.pattern, roi_name.strip())]
        if not hits:
            return None
        return Match(hits[0], "pattern", tuple(label.name for label in hits[1:]))

    def selects(self, roi_name: str, label_name: str | None) -> tuple[bool, str]:
        """Whether an ROI is selected, and why not (the entry that left it out)."""
        names = [roi_name] + ([label_name] if label_name else [])
        if self.include and not any(_matches(entry, name) for entry in self.include for name in names):
            return False, "not included"
        for entry in self.exclude:
            if any(_matches(entry, name) for name in names):
                return False, f"excluded by '{entry}'"
        return True, ""

    def priority_order(self) -> list[int]:
        """Label values, highest priority first."""
        listed = [value for value in self.priority if any(label.value == value for label in self.labels)]
        return listed + [label.value for label in self.labels if label.value not in listed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "labels": [{"value": label.value, "name": label.name} for label in self.labels],
            "unmatched": self.unmatched.value,
            "overlap": self.overlap.value,
            "priority": self.priority_order() if self.overlap is Overlap.PRIORITY else [],
            "include": list(self.include),
            "exclude": list(self.exclude),
        }


def _selector(entry: str, source: str) -> re.Pattern[str] | None:
    """The regular expression of an include/exclude entry (``None`` when it is not one: then it
    matches by name only)."""
    if not entry.strip():
        raise SchemeError(f"{source}: an empty include/exclude entry selects nothing; remove it")
    try:
        return re.compile(entry, re.IGNORECASE)
    except re.error:
        return None


def _matches(entry: str, name: str) -> bool:
    """Whether an include/exclude entry selects ``name``: equal (normalised), a shell-style glob
    (case-insensitive), or a regular expression matching the whole name (case-insensitive)."""
    if normalized(entry) == normalized(name):
        return True
    if fnmatch.fnmatchcase(name.strip().casefold(), entry.strip().casefold()):
        return True
    expression = _selector(entry, "")
    return expression is not None and expression.fullmatch(name.strip()) is not None


# -- reading ---------------------------------------------------------------------------------------
def build_scheme(
    scheme: str | Path | LabelScheme | None = None, include: Iterable[str] = (), exclude: Iterable[str] = ()
) -> LabelScheme | None:
    """The label scheme a user chose: a scheme file (or scheme) plus include/exclude entries, a
    selection alone, or ``None`` when nothing is chosen (every ROI, numbered in ROI order).
    The command line, batch and the Slicer module all build their scheme here."""
    include, exclude = list(include or ()), list(exclude or ())
    if isinstance(scheme, LabelScheme):
        return scheme.with_selection(include, exclude)
    if scheme:
        return load_scheme(scheme).with_selection(include, exclude)
    if include or exclude:
        return LabelScheme.selection(include, exclude)
    return None


def load_scheme(path: str | Path) -> LabelScheme:
    """Read a label scheme JSON file.

    Raises
    ------
    SchemeError
        When the file cannot be read or an entry is wrong; the message names the file and entry.
    """
    source = Path(path)
    data = _load_json(source, "label scheme")
    return scheme_from_dict(data, str(source))


def _load_json(path: Path, what: str) -> Any:
    if path.is_dir():
        raise SchemeError(f"{path} is a folder; give the {what} JSON file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SchemeError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise SchemeError(f"{path}: the {what} is not UTF-8 text") from None
    except OSError as error:
        raise SchemeError(f"{path}: cannot read the {what} ({error.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise SchemeError(f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})") from None


_SCHEME_KEYS = {"labels", "unmatched", "overlap", "priority", "include", "exclude", "@schema", "description", "comment"}
_LABEL_KEYS = {
    "value", "name", "aliases", "pattern", "color", "description", "category", "type", "type_modifier",
    "anatomic_region", "anatomic_region_modifier", "algorithm_type", "algorithm_name", "interpreted_type", "comment",
}  # fmt: skip


def scheme_from_dict(data: Any, source: str = "label scheme") -> LabelScheme:
    """A scheme from its JSON data (see :func:`load_scheme`)."""
    if not isinstance(data, dict):
        raise SchemeError(f'{source}: a label scheme is a JSON object with a "labels" list')
    unknown = sorted(set(data) - _SCHEME_KEYS)
    if unknown:
        raise SchemeError(
            f"{source}: unknown key(s) {', '.join(unknown)}; a label scheme has {', '.join(sorted(_SCHEME_KEYS - {'@schema'}))}"
        )
    entries = data.get("labels", [])
    if not isinstance(entries, list):
        raise SchemeError(f'{source}: "labels" must be a list of label objects')
    labels = [_label_from_dict(entry, f"{source}: labels[{index}]") for index, entry in enumerate(entries)]
    _check_unique(labels, source)
    scheme = LabelScheme(
        labels,
        _enum(Unmatched, data.get("unmatched", "drop"), f'{source}: "unmatched"'),
        _enum(Overlap, data.get("overlap", "layers"), f'{source}: "overlap"'),
        source=source,
    )
    scheme.priority = [
        _label_reference(scheme, item, f'{source}: "priority"')
        for item in _strings_or_ints(data.get("priority", []), f'{source}: "priority"')
    ]
    if scheme.priority and scheme.overlap is not Overlap.PRIORITY:
        raise SchemeError(f'{source}: "priority" is given but "overlap" is "{scheme.overlap.value}"; set "overlap": "priority" to use it')
    include = [str(item) for item in _strings_or_ints(data.get("include", []), f'{source}: "include"')]
    exclude = [str(item) for item in _strings_or_ints(data.get("exclude", []), f'{source}: "exclude"')]
    return scheme.with_selection(include, exclude)


def checked_entry(entry: Any, where: str, keys: set[str], value_key: str, what: str) -> int:
    """An entry that is an object of known ``keys``; returns its label value (1-65535)."""
    if not isinstance(entry, dict):
        raise SchemeError(f'{where}: {what} is a JSON object with "{value_key}"')
    unknown = sorted(set(entry) - keys)
    if unknown:
        raise SchemeError(f"{where}: unknown key(s) {', '.join(unknown)}")
    value = entry.get(value_key)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise SchemeError(f'{where}: "{value_key}" must be a whole number from 1 to 65535 (0 is background), got {value!r}')
    return value


def _label_from_dict(entry: Any, where: str) -> LabelSpec:
    value = checked_entry(entry, where, _LABEL_KEYS, "value", "a label")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SchemeError(f'{where}: "name" must be a non-empty text')
    aliases = entry.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
        raise SchemeError(f'{where} ({name}): "aliases" must be a list of non-empty texts')
    pattern = entry.get("pattern")
    if pattern is not None:
        if not isinstance(pattern, str) or not pattern:
            raise SchemeError(f'{where} ({name}): "pattern" must be a regular expression text')
        try:
            re.compile(pattern)
        except re.error as error:
            raise SchemeError(f'{where} ({name}): "pattern" is not a valid regular expression ({error})') from None
    return LabelSpec(
        value=value,
        name=name.strip(),
        aliases=tuple(a.strip() for a in aliases),
        pattern=pattern,
        color=parse_color(entry.get("color"), f'{where} ({name}): "color"'),
        description=_text(entry.get("description", ""), f'{where} ({name}): "description"'),
        category=parse_code(entry.get("category"), f'{where} ({name}): "category"'),
        type=parse_code(entry.get("type"), f'{where} ({name}): "type"'),
        type_modifier=parse_code(entry.get("type_modifier"), f'{where} ({name}): "type_modifier"'),
        anatomic_region=parse_code(entry.get("anatomic_region"), f'{where} ({name}): "anatomic_region"'),
        anatomic_region_modifier=parse_code(entry.get("anatomic_region_modifier"), f'{where} ({name}): "anatomic_region_modifier"'),
        algorithm_type=parse_algorithm_type(entry.get("algorithm_type"), f'{where} ({name}): "algorithm_type"'),
        algorithm_name=_text(entry.get("algorithm_name", ""), f'{where} ({name}): "algorithm_name"'),
        interpreted_type=parse_interpreted_type(entry.get("interpreted_type"), f'{where} ({name}): "interpreted_type"'),
    )


def _check_unique(labels: Sequence[LabelSpec], source: str) -> None:
    values: dict[int, str] = {}
    owners: dict[str, str] = {}
    for label in labels:
        if label.value in values:
            raise SchemeError(f'{source}: value {label.value} is used by both "{values[label.value]}" and "{label.name}"')
        values[label.value] = label.name
        for key in sorted(label.names()):
            if key in owners and owners[key] != label.name:
                raise SchemeError(
                    f"{source}: the name/alias '{key}' (compared ignoring case, spaces, _ and -) belongs to both "
                    f'"{owners[key]}" and "{label.name}"; an ROI name must map to one label'
                )
            owners[key] = label.name


def _label_reference(scheme: LabelScheme, item: str | int, where: str) -> int:
    for label in scheme.labels:
        if item == label.value or (isinstance(item, str) and normalized(item) == normalized(label.name)):
            return label.value
    raise SchemeError(f"{where}: '{item}' is not a label of the scheme (give its name or value)")


def _strings_or_ints(value: Any, where: str) -> list[str | int]:
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        raise SchemeError(f"{where} must be a list of names")
    return list(value)


def _enum(kind: Any, value: Any, where: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise SchemeError(f"{where} must be one of {', '.join(repr(k.value) for k in kind)}, got {value!r}") from None


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise SchemeError(f"{where} must be a text")
    return value


def parse_color(value: Any, where: str) -> tuple[int, int, int] | None:
    """``[r, g, b]`` (0-255) or ``None``."""
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value)
    ):
        raise SchemeError(f"{where} must be three whole numbers 0-255 (red, green, blue), got {value!r}")
    return (value[0], value[1], value[2])


def parse_code(value: Any, where: str) -> Code | None:
    """A code as DICOM JSON keywords (``{"CodeValue", "CodingSchemeDesignator", "CodeMeaning"}``,
    as dcmqi writes them) or ``[value, scheme, meaning]``; ``None`` when absent."""
    if value is None:
        return None
    if isinstance(value, dict):
        parts = [value.get("CodeValue"), value.get("CodingSchemeDesignator"), value.get("CodeMeaning")]
    elif isinstance(value, list):
        parts = list(value)
    else:
        parts = []
    if len(parts) != 3 or not all(isinstance(p, str) and p.strip() for p in parts):
        raise SchemeError(
            f'{where} must be {{"CodeValue", "CodingSchemeDesignator", "CodeMeaning"}} or [value, scheme, meaning], got {value!r}'
        )
    return Code(*(str(part).strip() for part in parts))


#: Defined terms of RT ROI Interpreted Type (PS3.3 C.8.8.8.1).
INTERPRETED_TYPES = (
    "EXTERNAL", "PTV", "CTV", "GTV", "TREATED_VOLUME", "IRRAD_VOLUME", "OAR", "BOLUS", "AVOIDANCE", "ORGAN", "MARKER",
    "REGISTRATION", "ISOCENTER", "CONTRAST_AGENT", "CAVITY", "BRACHY_CHANNEL", "BRACHY_ACCESSORY", "BRACHY_SRC_APP",
    "BRACHY_CHNL_SHLD", "SUPPORT", "FIXATION", "DOSE_REGION", "CONTROL", "DOSE_MEASUREMENT",
)  # fmt: skip


def parse_interpreted_type(value: Any, where: str) -> str:
    """An RT ROI Interpreted Type: a defined term (PS3.3 C.8.8.8.1) or another Code String
    (upper-case letters, digits, space and _, at most 16 characters); empty when absent."""
    if value is None:
        return ""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z0-9_ ]{1,16}", value.strip().upper()):
        raise SchemeError(
            f"{where} must be an RT ROI Interpreted Type such as {', '.join(INTERPRETED_TYPES[:4])} or ORGAN "
            f"(at most 16 letters, digits or _), got {value!r}"
        )
    return value.strip().upper()


def parse_algorithm_type(value: Any, where: str) -> SegmentAlgorithmType | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise SchemeError(f"{where} must be MANUAL, SEMIAUTOMATIC or AUTOMATIC")
    return _enum(SegmentAlgorithmType, value.strip().upper(), where)  # type: ignore[no-any-return]
