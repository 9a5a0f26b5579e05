"""Transfer syntaxes and the codec registry.

Each encapsulated transfer syntax maps to an ordered list of backend modules (loaded lazily
by dotted path); a backend module has ``NAME``, ``PACKAGE`` (the PyPI package it needs, or
``None`` when bundled), ``IMPORT`` (the module that package provides, or ``None``),
``encode(frame) -> bytes`` and ``decode(data, rows, columns, bits_allocated) -> array``. The first available backend is
used; when none is, the error names the package to install.
"""

from __future__ import annotations

import importlib
import importlib.util
from enum import Enum
from types import ModuleType
from typing import TYPE_CHECKING

from ...errors import DicomLabelMapError, MissingDependencyError

if TYPE_CHECKING:  # numpy is imported by the codecs themselves, not by this registry
    import numpy as np
    import numpy.typing as npt


class TransferSyntax(Enum):
    """Transfer syntaxes a Label Map SEG can be written with (value: command-line name)."""

    EXPLICIT = "explicit"
    DEFLATED = "deflated"
    RLE = "rle"
    JPEG_LS = "jpegls"
    JPEG_2000 = "jpeg2000"
    DEFLATED_FRAME = "deflated-frame"
    #: Retired; read, never written.
    EXPLICIT_BIG_ENDIAN = "explicit-big-endian"

    @property
    def uid(self) -> str:
        return _UIDS[self]

    @property
    def writable(self) -> bool:
        return self is not TransferSyntax.EXPLICIT_BIG_ENDIAN

    @classmethod
    def writable_syntaxes(cls) -> list[TransferSyntax]:
        return [syntax for syntax in cls if syntax.writable]

    @property
    def encapsulated(self) -> bool:
        return self in _BACKENDS

    @classmethod
    def from_word(cls, word: str | TransferSyntax) -> TransferSyntax:
        """A writable syntax from its command-line name (``rle``, ``jpegls``, ...)."""
        if isinstance(word, TransferSyntax):
            return word
        try:
            syntax = cls(word)
        except ValueError:
            syntax = None
        if syntax is None or not syntax.writable:
            names = ", ".join(s.value for s in cls.writable_syntaxes())
            raise DicomLabelMapError(f"transfer syntax {word!r} is not one we write; choose one of {names}")
        return syntax

    @classmethod
    def from_uid(cls, uid: str) -> TransferSyntax:
        for syntax, value in _UIDS.items():
            if value == uid:
                return syntax
        if uid == "1.2.840.10008.1.2":
            return cls.EXPLICIT  # implicit VR: native pixels, read the same way
        raise DicomLabelMapError(f"Transfer Syntax UID {uid} is not supported for segmentations")


_UIDS = {
    TransferSyntax.EXPLICIT: "1.2.840.10008.1.2.1",
    TransferSyntax.DEFLATED: "1.2.840.10008.1.2.1.99",
    TransferSyntax.RLE: "1.2.840.10008.1.2.5",
    TransferSyntax.JPEG_LS: "1.2.840.10008.1.2.4.80",
    TransferSyntax.JPEG_2000: "1.2.840.10008.1.2.4.90",
    TransferSyntax.DEFLATED_FRAME: "1.2.840.10008.1.2.8.1",
    TransferSyntax.EXPLICIT_BIG_ENDIAN: "1.2.840.10008.1.2.2",
}

_BACKENDS: dict[TransferSyntax, tuple[str, ...]] = {
    TransferSyntax.RLE: ("dicomlabelmap.dicom.codecs.rle",),
    TransferSyntax.JPEG_LS: ("dicomlabelmap.dicom.codecs.jpegls",),
    TransferSyntax.JPEG_2000: ("dicomlabelmap.dicom.codecs.jpeg2000",),
    TransferSyntax.DEFLATED_FRAME: ("dicomlabelmap.dicom.codecs.deflate_frame",),
}


#: Syntaxes whose encoders take most of an encode: worth a second process on the command line.
SLOW_TO_ENCODE = (TransferSyntax.JPEG_LS, TransferSyntax.JPEG_2000)
#: Syntaxes whose decoders take most of a read. Not JPEG-LS: on the 61-label, 224-slice volume a
#: helper process saved no time in `decode` (whole processes, 1.22-1.33 s against 0.95-1.40 s)
#: and cost 50 MB; JPEG 2000 2.05-2.39 s against 2.58-3.04 s.
SLOW_TO_DECODE = (TransferSyntax.JPEG_2000,)


def register_with_pydicom() -> None:
    """pydicom 3.0 predates Deflated Image Frame Compression (DICOM 2025a) and refuses to
    write a transfer syntax it does not know; add the UID to its table when it is missing.
    Called by the SEG reader and writer when they are imported (not by this registry, which
    the command line imports before it knows whether pydicom is needed)."""
    from pydicom._uid_dict import UID_dictionary

    uid = _UIDS[TransferSyntax.DEFLATED_FRAME]
    if uid not in UID_dictionary:
        UID_dictionary[uid] = ("Deflated Image Frame Compression", "Transfer Syntax", "", "", "DeflatedImageFrameCompression")


#: Decoders tried before the backends above (a faster library when it is installed).
_DECODERS: dict[TransferSyntax, tuple[str, ...]] = {
    TransferSyntax.RLE: ("dicomlabelmap.dicom.codecs.rle_pylibjpeg", "dicomlabelmap.dicom.codecs.rle"),
}


def backend(syntax: TransferSyntax, decoding: bool = False) -> ModuleType:
    """The first available codec module for an encapsulated transfer syntax (for decoding,
    faster optional decoders come first)."""
    if syntax not in _BACKENDS:
        raise DicomLabelMapError(f"{syntax.value} pixel data is not encapsulated; it needs no codec")
    paths = _DECODERS.get(syntax, _BACKENDS[syntax]) if decoding else _BACKENDS[syntax]
    modules = [importlib.import_module(path) for path in paths]
    for module in modules:
        if module.IMPORT is None or importlib.util.find_spec(module.IMPORT) is not None:
            return module
    raise MissingDependencyError(modules[0].PACKAGE, f"{syntax.value} ({syntax.uid})")


def check_encoder(syntax: TransferSyntax) -> None:
    """Raise :class:`MissingDependencyError` naming the package, before any work, when writing
    ``syntax`` needs an optional package that is not installed."""
    if syntax in _BACKENDS:
        backend(syntax)


def encode_frame(frame: npt.NDArray[np.integer], syntax: TransferSyntax) -> bytes:
    return bytes(backend(syntax).encode(frame))


def decode_frame(data: bytes, rows: int, columns: int, bits_allocated: int, syntax: TransferSyntax) -> npt.NDArray[np.integer]:
    return backend(syntax, decoding=True).decode(data, rows, columns, bits_allocated)  # type: ignore[no-any-return]
