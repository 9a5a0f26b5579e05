"""What a Segmentation says it was drawn on: the series of its Referenced Series Sequence
(Common Instance Reference module, PS3.3 C.12.2) and the images its frames derive from
(Derivation Image > Source Image Sequence, C.7.6.16.2.6), read from the header only."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset

from ..dicom.frames import FunctionalGroups

#: Frames whose source images are read to tell which series a Segmentation was drawn on.
_SAMPLED_FRAMES = 32


@dataclass(frozen=True)
class SegSources:
    """The series and images a Segmentation references."""

    series_uids: frozenset[str] = field(default_factory=frozenset)
    instance_uids: frozenset[str] = field(default_factory=frozenset)
    frame_of_reference_uid: str = ""

    @property
    def known(self) -> bool:
        return bool(self.series_uids or self.instance_uids)


def seg_sources(header: Dataset) -> SegSources:
    """The referenced series and source images of a Segmentation header (pixel data not needed)."""
    series = {str(item.SeriesInstanceUID) for item in header.get("ReferencedSeriesSequence", []) if item.get("SeriesInstanceUID")}
    instances: set[str] = set()
    groups = FunctionalGroups(header)
    count = min(int(header.get("NumberOfFrames", 1) or 1), max(len(groups), 1))
    # Frames spread over the whole stack: enough to tell the series, few enough for BINARY SEGs
    # of thousands of frames.
    for index in sorted(set(np.linspace(0, count - 1, min(count, _SAMPLED_FRAMES)).round().astype(int).tolist())):
        derivation = groups.item(index, "DerivationImageSequence")
        for source in derivation.get("SourceImageSequence", []) if derivation is not None else []:
            if source.get("ReferencedSOPInstanceUID"):
                instances.add(str(source.ReferencedSOPInstanceUID))
    return SegSources(frozenset(series), frozenset(instances), str(header.get("FrameOfReferenceUID", "")))
