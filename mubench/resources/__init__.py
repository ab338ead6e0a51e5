"""Reference data shipped with the package (paper taxonomy and templates, appendix I–J)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import yaml


@cache
def taxonomy() -> dict:
    """Modality→submodality, domain→subdomain and modality→stain hierarchies (paper appendix J)."""
    return yaml.safe_load(files(__name__).joinpath("taxonomy.yaml").read_text())


@cache
def templates() -> dict:
    """Question and caption templates (paper appendix I, Tables 22–24)."""
    return yaml.safe_load(files(__name__).joinpath("templates.yaml").read_text())
