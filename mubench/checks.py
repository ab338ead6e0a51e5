"""One item a run needs, as the preflight reports it: here (ok), missing, or broken, with what to do.

Each stage answers for its own items through a hook: a model family looks up its weights (models/spec.py
``Family.weights``), a benchmark source finds its release (benchmark/sources.py ``Source.availability``).
"""

from __future__ import annotations

from dataclasses import dataclass

OK, MISSING, ERROR = "ok", "MISSING", "ERROR"


@dataclass(frozen=True)
class Check:
    item: str
    status: str  # ok | MISSING | ERROR
    detail: str
    remedy: str = ""

    @property
    def passed(self) -> bool:
        return self.status == OK
