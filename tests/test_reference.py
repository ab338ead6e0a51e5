"""The published numbers shipped in paper_figures/reference/ are the project's source of truth, copied verbatim."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from mubench.resources import taxonomy, templates

from conftest import REPO

SHIPPED = REPO / "paper_figures" / "reference"
SOURCE = REPO.parent / "shared" / "reference"  # the checked source beside a development checkout


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_shipped_reference_is_identical_to_the_checked_source():
    if not SOURCE.is_dir():
        pytest.skip(f"{SOURCE} is not beside this checkout (a fresh clone); the shipped copy is checked below")
    assert _files(SHIPPED) == _files(SOURCE), "paper_figures/reference/ differs from ../shared/reference/"


def test_package_taxonomy_and_templates_are_the_reference_files():
    """Questions and captions are built from mubench/resources/: they must be the reference's own files."""
    resources = REPO / "mubench" / "resources"
    for name in ("taxonomy.yaml", "templates.yaml"):
        assert filecmp.cmp(resources / name, SHIPPED / name, shallow=False), name
    assert taxonomy() and templates()


def test_every_reference_table_reads_with_its_comments():
    import pandas as pd

    for path in sorted(SHIPPED.glob("*.csv")):
        table = pd.read_csv(path, comment="#")
        assert len(table) and len(table.columns) >= 2, path.name
