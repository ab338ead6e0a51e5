"""The registries (model families, benchmark sources) name their code as "module:attribute", imported only when
used: choosing a family or a source never imports torch, transformers or another source's dependencies."""

from __future__ import annotations

from importlib import import_module


def resolve(target: str):
    """The object ``target`` ("package.module:attribute") names."""
    module, _, attribute = target.partition(":")
    return getattr(import_module(module), attribute)
