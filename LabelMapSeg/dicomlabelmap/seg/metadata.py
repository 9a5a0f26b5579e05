"""Segment metadata for ``encode --metadata``: a label scheme (``--roi-map`` format), dcmqi's
``itkimage2segimage --inputMetadata`` JSON, or our own label table (``<name>.labels.json``, the
sidecar written beside every label file; ``encode`` reads it by itself for a ``.nii.gz`` or
``.nrrd`` label file), applied to the segments of a label file.

Our label table (:mod:`~dicomlabelmap.files.labeltables`) is recognised by the keys only it has
in its entries (``present``, ``layer``, ``file``, ``roi_names``, ``roi_numbers``, ``voxels``); it
gives names, colours, codes (``[value, scheme, meaning]``), algorithm type and name, and
description per value. Entries marked ``"present": false`` describe labels the file does not
hold; they raise no note.

dcmqi's layout (``doc/schemas/seg-schema.json``): header values (``SeriesDescription``,
``SeriesNumber``, ``ContentCreatorName``, ``ContentLabel``, ``ContentDescription``, ...) and
``segmentAttributes``, a list per input file of segment objects keyed by ``labelID``
(``SegmentLabel``, ``SegmentDescription``, ``SegmentAlgorithmType``, ``SegmentAlgorithmName``,
``SegmentedPropertyCategoryCodeSequence``, ``SegmentedPropertyTypeCodeSequence``,
``SegmentedPropertyTypeModifierCodeSequence``, ``AnatomicRegionSequence``,
``AnatomicRegionModifierSequence``, ``recommendedDisplayRGBValue``). As dcmqi does, a segment
without ``SegmentLabel`` is labelled by its ``SegmentDescription``, else by its type's meaning.

Rules: metadata replaces what the label file says about a value (a ``.seg.nrrd``'s names,
colours and terminology are kept where the metadata is silent). Values in the label map without
metadata keep their description (named in a note); metadata for values absent from the label map
is named in a note too. A ``labelID`` given twice is an error, unless ``segmentAttributes`` has
one list per layer of a ``.seg.nrrd`` (then list *n* describes layer *n*).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..model.labels import LabelVolume
from ..model.scheme import (
    LabelScheme,
    LabelSpec,
    SchemeError,
    _load_json,
    checked_entry,
    parse_algorithm_type,
    parse_code,
    parse_color,
    parse_interpreted_type,
    scheme_from_dict,
)

#: dcmqi header keys -> :class:`~dicomlabelmap.seg.writer.SegWriteOptions` fields.
_HEADER = {
    "SeriesDescription": "series_description",
    "SeriesNumber": "series_number",
    "ContentCreatorName": "content_creator",
    "ContentLabel": "content_label",
    "ContentDescription": "content_description",
}
#: dcmqi keys we read but do not write (said in a note, never silently).
_NOT_WRITTEN = (
    "ClinicalTrialSeriesID",
    "ClinicalTrialTimePointID",
    "ClinicalTrialCoordinatingCenterName",
    "BodyPartExamined",
    "InstanceNumber",
    "segmentAttributesFileMapping",
)
_SEGMENT_KEYS = {
    "labelID", "SegmentLabel", "SegmentDescription", "SegmentAlgorithmType", "SegmentAlgorithmName",
    "SegmentedPropertyCategoryCodeSequence", "SegmentedPropertyTypeCodeSequence", "SegmentedPropertyTypeModifierCodeSequence",
    "AnatomicRegionSequence", "AnatomicRegionModifierSequence", "recommendedDisplayRGBValue", "TrackingIdentifier",
    "TrackingUniqueIdentifier",
}  # fmt: skip


class Metadata:
    """Segment descriptions by label value (per layer when given so) and series header values."""

    def __init__(
        self,
        source: str,
        layers: list[dict[int, LabelSpec]],
        header: dict[str, Any],
        notes: list[str],
        absent: frozenset[int] = frozenset(),
    ):
        self.source = source
        #: One map for every layer, or one per layer.
        self.layers = layers
        self.header = header
        self.notes = notes
        #: Values the metadata itself says the label file does not hold (no note for them).
        self.absent = absent

    def spec(self, layer: int, value: int) -> LabelSpec | None:
        table = self.layers[layer] if len(self.layers) > 1 else self.layers[0]
        return table.get(value)


def load_metadata(path: str | Path, label_file: str | None = None) -> Metadata:
    """Read a metadata file: a label scheme (has ``labels``), our label table (``labels`` whose
    entries have ``present``/``layer``/``file``/``roi_names``...) or dcmqi's JSON (has
    ``segmentAttributes``).

    ``label_file``: the name of the label file a label table sits beside; only its entries for
    that file are used (a table of several layer files describes each file's values).
    """
    source = Path(path)
    data = _load_json(source, "segment metadata")
    if isinstance(data, dict) and "segmentAttributes" in data:
        return _from_dcmqi(data, str(source))
    if is_label_table(data):
        return _from_label_table(data, str(source), label_file)
    if isinstance(data, dict) and "labels" in data:
        return from_scheme(scheme_from_dict(data, str(source)))
    raise SchemeError(
        f'{source}: segment metadata is a label scheme (with "labels"), a label table (<name>.labels.json) or dcmqi\'s metadata JSON '
        '(with "segmentAttributes")'
    )


#: Keys only our label tables' entries have (a scheme's entries never do).
_TABLE_ONLY_KEYS = {"present", "layer", "file", "roi_names", "roi_numbers", "voxels"}
_TABLE_KEYS = _TABLE_ONLY_KEYS | {
    "value", "name", "color", "category", "type", "type_modifier", "anatomic_region", "anatomic_region_modifier",
    "algorithm_type", "algorithm_name", "description", "interpreted_type",
}  # fmt: skip


def is_label_table(data: Any) -> bool:
    """Whether JSON data is one of our label tables (not a scheme)."""
    entries = data.get("labels") if isinstance(data, dict) else None
    return (
        isinstance(entries, list)
        and bool(entries)
        and all(isinstance(entry, dict) for entry in entries)
        and any(_TABLE_ONLY_KEYS & set(entry) for entry in entries)
    )


def _from_label_table(data: dict[str, Any], source: str, label_file: str | None) -> Metadata:
    table: dict[int, LabelSpec] = {}
    absent = set()
    for index, entry in enumerate(data["labels"]):
        where = f"{source}: labels[{index}]"
        value = checked_entry(entry, where, _TABLE_KEYS, "value", "a label table entry")
        if label_file is not None and entry.get("file") not in (None, label_file):
            continue  # another layer's file
        if entry.get("present") is False:
            absent.add(value)
        name = entry.get("name", "")
        if not isinstance(name, str):
            raise SchemeError(f'{where}: "name" must be a text')
        if value in table:
            raise SchemeError(f"{source}: value {value} is described twice")
        table[value] = LabelSpec(
            value=value,
            name=name.strip(),
            color=parse_color(entry.get("color"), f'{where}: "color"'),
            description=str(entry.get("description", "")),
            category=parse_code(entry.get("category"), f'{where}: "category"'),
            type=parse_code(entry.get("type"), f'{where}: "type"'),
            type_modifier=parse_code(entry.get("type_modifier"), f'{where}: "type_modifier"'),
            anatomic_region=parse_code(entry.get("anatomic_region"), f'{where}: "anatomic_region"'),
            anatomic_region_modifier=parse_code(entry.get("anatomic_region_modifier"), f'{where}: "anatomic_region_modifier"'),
            algorithm_type=parse_algorithm_type(entry.get("algorithm_type"), f'{where}: "algorithm_type"'),
            algorithm_name=str(entry.get("algorithm_name", "")),
            interpreted_type=parse_interpreted_type(entry.get("interpreted_type"), f'{where}: "interpreted_type"'),
        )
    return Metadata(source, [table], {}, [], frozenset(absent))


def from_scheme(scheme: LabelScheme) -> Metadata:
    return Metadata(scheme.source, [{label.value: label for label in scheme.labels}], {}, [])


def _from_dcmqi(data: dict[str, Any], source: str) -> Metadata:
    header: dict[str, Any] = {}
    notes = []
    for key, field_name in _HEADER.items():
        if key in data:
            value = data[key]
            if field_name == "series_number":
                try:
                    value = int(str(value).strip())
                except ValueError:
                    raise SchemeError(f'{source}: "SeriesNumber" must be a whole number, got {value!r}') from None
            elif not isinstance(value, str):
                raise SchemeError(f'{source}: "{key}" must be a text')
            header[field_name] = value
    ignored = [key for key in _NOT_WRITTEN if key in data]
    if ignored:
        notes.append(f"note: {source}: {', '.join(ignored)} are not written (each layer is numbered by its own Instance Number)")
    lists = data["segmentAttributes"]
    if not isinstance(lists, list) or not lists or not all(isinstance(items, list) for items in lists):
        raise SchemeError(f'{source}: "segmentAttributes" must be a list of lists of segment objects, as dcmqi writes it')
    layers = []
    for outer, items in enumerate(lists):
        table: dict[int, LabelSpec] = {}
        for inner, item in enumerate(items):
            spec = _dcmqi_segment(item, f"{source}: segmentAttributes[{outer}][{inner}]")
            tracking = [key for key in ("TrackingIdentifier", "TrackingUniqueIdentifier") if key in item]
            if tracking:
                notes.append(f"note: {source}: {' and '.join(tracking)} of labelID {spec.value} are not written")
            if spec.value in table:
                raise SchemeError(f"{source}: labelID {spec.value} is described twice in segmentAttributes[{outer}]")
            table[spec.value] = spec
        layers.append(table)
    return Metadata(source, layers, header, notes)


def _dcmqi_segment(item: Any, where: str) -> LabelSpec:
    value = checked_entry(item, where, _SEGMENT_KEYS, "labelID", "a segment")
    category = parse_code(item.get("SegmentedPropertyCategoryCodeSequence"), f"{where}: SegmentedPropertyCategoryCodeSequence")
    kind = parse_code(item.get("SegmentedPropertyTypeCodeSequence"), f"{where}: SegmentedPropertyTypeCodeSequence")
    description = item.get("SegmentDescription", "")
    label = item.get("SegmentLabel", "")
    for key, text in (("SegmentDescription", description), ("SegmentLabel", label)):
        if not isinstance(text, str):
            raise SchemeError(f'{where}: "{key}" must be a text')
    name = label or description or (kind.meaning if kind else "")
    return LabelSpec(
        value=value,
        name=name,
        color=parse_color(item.get("recommendedDisplayRGBValue"), f"{where}: recommendedDisplayRGBValue"),
        description=description,
        category=category,
        type=kind,
        type_modifier=parse_code(
            item.get("SegmentedPropertyTypeModifierCodeSequence"), f"{where}: SegmentedPropertyTypeModifierCodeSequence"
        ),
        anatomic_region=parse_code(item.get("AnatomicRegionSequence"), f"{where}: AnatomicRegionSequence"),
        anatomic_region_modifier=parse_code(item.get("AnatomicRegionModifierSequence"), f"{where}: AnatomicRegionModifierSequence"),
        algorithm_type=parse_algorithm_type(item.get("SegmentAlgorithmType"), f"{where}: SegmentAlgorithmType"),
        algorithm_name=str(item.get("SegmentAlgorithmName", "")),
    )


def apply_metadata(volumes: list[LabelVolume], metadata: Metadata) -> tuple[list[LabelVolume], dict[str, Any], list[str]]:
    """The layers with their segments described by ``metadata``, the series header values, and
    notes (values without metadata, metadata without values, keys not written)."""
    if len(metadata.layers) > 1 and len(metadata.layers) != len(volumes):
        flat: dict[int, LabelSpec] = {}
        for table in metadata.layers:
            for value, spec in table.items():
                if value in flat:
                    raise SchemeError(
                        f'{metadata.source}: labelID {value} is described in several lists of "segmentAttributes", '
                        f"and the label file has {len(volumes)} layer(s), not {len(metadata.layers)}"
                    )
                flat[value] = spec
        metadata = Metadata(metadata.source, [flat], metadata.header, metadata.notes, metadata.absent)
    notes = list(metadata.notes)
    described = []
    used: set[tuple[int, int]] = set()
    for layer, volume in enumerate(volumes):
        segments = []
        for segment in volume.segments:
            found = metadata.spec(layer, segment.number)
            if found is None:
                notes.append(f"note: label {segment.number} ('{segment.label}') has no entry in {metadata.source}; its description is kept")
                segments.append(segment)
            else:
                used.add((layer if len(metadata.layers) > 1 else 0, segment.number))
                segments.append(found.describe(segment))
        described.append(volume.with_segments(segments))
    for index, table in enumerate(metadata.layers):
        for value, spec in sorted(table.items()):
            if (index, value) not in used and value not in metadata.absent:
                notes.append(f"note: {metadata.source} describes label {value} ('{spec.name}'), which the label map does not hold")
    return described, dict(metadata.header), notes
