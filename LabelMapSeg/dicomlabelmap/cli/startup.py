"""Start-up of the command line: what a conversion never uses is not loaded.

pydicom's test-file downloader (``pydicom.data.download``, imported by ``import pydicom``)
imports ``requests`` and ``tqdm`` when they are installed (with ``urllib3``, about 0.1 s of a
short command's start-up; a decode takes under a second), for a download a conversion never
makes. The command line imports that one module of pydicom as if both were absent (pydicom then
downloads through ``urllib``, without a progress bar, as it does without them); both stay
importable for any other code, the command line's own progress bars included.
(``urllib.request``, which that module imports too, cannot be deferred the same way: an
``import`` statement touches the module it finds, which would load a lazy one at once.)
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Any

#: Modules imported without ``requests`` and ``tqdm``: pydicom's test-file downloader.
WITHOUT_REQUESTS = ("pydicom.data.download",)
#: Left out of those modules' import: they fall back to doing without.
HIDDEN = ("requests", "tqdm")


class _WithoutRequests(importlib.abc.MetaPathFinder):
    """Finds the modules of :data:`WITHOUT_REQUESTS` and runs them with ``requests`` hidden."""

    def find_spec(self, name: str, path: Any = None, target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if name not in WITHOUT_REQUESTS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _HidingLoader(spec.loader)
        return spec


class _HidingLoader(importlib.abc.Loader):
    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        hidden = [name for name in HIDDEN if name not in sys.modules]
        for name in hidden:
            sys.modules[name] = None  # type: ignore[assignment]  # "import requests" raises ImportError
        try:
            self.loader.exec_module(module)
        finally:
            for name in hidden:
                if sys.modules.get(name, 0) is None:
                    del sys.modules[name]


def defer_unused_imports() -> bool:
    """Install the finder (once, and only before pydicom is imported); returns whether it is in place."""
    if any(isinstance(finder, _WithoutRequests) for finder in sys.meta_path):
        return True
    if any(name in sys.modules for name in WITHOUT_REQUESTS):
        return False
    sys.meta_path.insert(0, _WithoutRequests())
    return True
