"""Start-up of the command line: what a conversion never uses is not loaded.

pydicom's test-file downloader (``pydicom.data.download``, imported by ``import pydicom``)
imports ``requests`` when it is installed; with ``urllib3`` that is a sizeable part of a short
command's start-up, for a download a conversion never makes. The command line imports that one
module of pydicom as if ``requests`` were absent (pydicom then downloads through ``urllib``, as
it does without ``requests``); ``requests`` itself stays importable for any other code.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Any

#: Modules imported without ``requests``: pydicom's test-file downloader.
WITHOUT_REQUESTS = ("pydicom.data.download",)


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
        hidden = "requests" not in sys.modules
        if hidden:
            sys.modules["requests"] = None  # type: ignore[assignment]  # "import requests" raises ImportError
        try:
            self.loader.exec_module(module)
        finally:
            if hidden and sys.modules.get("requests", 0) is None:
                del sys.modules["requests"]


def defer_unused_imports() -> bool:
    """Install the finder (once, and only before pydicom is imported); returns whether it is in place."""
    if any(isinstance(finder, _WithoutRequests) for finder in sys.meta_path):
        return True
    if any(name in sys.modules for name in WITHOUT_REQUESTS):
        return False
    sys.meta_path.insert(0, _WithoutRequests())
    return True
