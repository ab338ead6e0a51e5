"""mubench: a reproducible, containerized runner for the μ-Bench microscopy vision-language benchmark."""

__version__ = "0.1.0"
