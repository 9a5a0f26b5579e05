"""Slicer glue: MRML nodes <-> the core's objects (``dicomlabelmap``). No DICOM logic here.

Imports Slicer and VTK; never Qt. Slicer-facing module and plugin files import this package
inside their functions, not at start-up.
"""
