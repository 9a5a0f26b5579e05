"""Layer 1: the command line's start-up leaves out what a conversion never uses (``requests``
and ``tqdm``, which pydicom's test-file downloader imports when installed), while both stay
importable for any other code."""

from __future__ import annotations

import subprocess
import sys

import pytest
from dicomlabelmap.cli.startup import HIDDEN, WITHOUT_REQUESTS

CHECK = """
import sys
import dicomlabelmap.cli.main, pydicom
from dicomlabelmap.cli.startup import defer_unused_imports
from pydicom.data import download
loaded_at_start = 'urllib3' in sys.modules, 'tqdm' in sys.modules
import requests, tqdm
print(*loaded_at_start, download.HAVE_REQUESTS, download.USE_PROGRESS_BAR, callable(requests.get), callable(tqdm.tqdm),
      'urllib3' in sys.modules, defer_unused_imports())
"""


def test_requests_and_tqdm_are_not_loaded_by_pydicom_at_start():
    pytest.importorskip("requests")
    pytest.importorskip("tqdm")
    assert WITHOUT_REQUESTS == ("pydicom.data.download",) and HIDDEN == ("requests", "tqdm")
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False", "False", "False", "True", "True", "True", "True"]


def test_too_late_once_pydicom_is_imported():
    result = subprocess.run(
        [sys.executable, "-c", "import pydicom; from dicomlabelmap.cli.startup import defer_unused_imports; print(defer_unused_imports())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "False"
