"""Exceptions any layer may raise (this module imports nothing of mubench, so every stage can use it)."""


class ConfigError(ValueError):
    """The config is invalid; the message names the offending key (and file and line where it is known)."""
