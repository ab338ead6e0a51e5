"""Prove that a released multiple-choice row means what its index field says, before anything is scored.

Public MCQ releases differ in small ways that silently shift every answer by one: 0- or 1-based answer indices,
options that carry their own labels ("A) …", "(1) …"). Nothing here assumes a convention. Per row, option labels
are detected only when every option of the row carries the next label of one scheme, and then stripped. The index
convention is what every row allows at once: a row with an answer text allows the offsets whose option equals that
text; a row without one allows the offsets that keep the index inside its option list. A row that allows no offset,
or none that the other rows allow, stops the build with a message naming it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from string import ascii_lowercase, ascii_uppercase

# Offsets an index field may carry: 0 (0-based) or 1 (1-based).
OFFSETS = {0: "0-based", 1: "1-based"}

_LABEL_SCHEMES = {
    "A": lambda i: ascii_uppercase[i] if i < 26 else None,
    "a": lambda i: ascii_lowercase[i] if i < 26 else None,
    "1": lambda i: str(i + 1),
    "0": lambda i: str(i),
}
# How a label is attached; "{}" is the label. Checked longest first so "(1): " wins over "(1) ".
_LABEL_FORMATS = ("({}): ", "({}) ", "{}) ", "{}. ", "{}: ", "[{}] ")


class MCQError(ValueError):
    """A release row contradicts itself or the rest of the release; the message names the row."""


def _normal(text: str) -> str:
    return " ".join(str(text).split())


def option_labels(options: Sequence[str]) -> tuple[str | None, list[str]]:
    """(label style such as "(1) " or "A) ", or None) and the options without their labels.

    A style counts only when option i starts with the i-th label of one scheme for every option of the row, so an
    option that merely starts with "(1)" in its text is never cut.
    """
    stripped = [str(o).strip() for o in options]
    if len(stripped) < 2:
        return None, stripped
    for fmt in _LABEL_FORMATS:
        for label in _LABEL_SCHEMES.values():
            prefixes = [fmt.format(label(i)) if label(i) is not None else None for i in range(len(stripped))]
            if all(p is not None and o.startswith(p) and o[len(p):].strip() for p, o in zip(prefixes, stripped)):
                return fmt.format(label(0)), [o[len(p):].strip() for p, o in zip(prefixes, stripped)]
    return None, stripped


def _unlabelled_answer(answer: str) -> str:
    """The answer text without a leading option label, if it carries one ("B) text" → "text")."""
    for fmt in _LABEL_FORMATS:
        pattern = re.escape(fmt).replace(r"\{\}", r"(?:[A-Za-z]|\d{1,2})", 1)
        found = re.match(pattern, answer)
        if found and answer[found.end():].strip():
            return answer[found.end():].strip()
    return answer


@dataclass(frozen=True)
class RowEvidence:
    """What one release row allows: its name for messages, and the offsets consistent with it."""

    where: str
    index: int
    n_options: int
    offsets: frozenset[int]
    by_text: bool


def row_evidence(where: str, index, options: Sequence[str], answer_text: str | None) -> RowEvidence:
    """The offsets that make ``options[index - offset]`` the row's answer (its text, when it has one)."""
    if isinstance(index, bool) or index is None or int(index) != index:
        raise MCQError(f"{where}: index field {index!r} is not an integer")
    index = int(index)
    in_range = {o for o in OFFSETS if 0 <= index - o < len(options)}
    if answer_text is None or not str(answer_text).strip():
        if not in_range:
            raise MCQError(f"{where}: index {index} fits no numbering of its {len(options)} options")
        return RowEvidence(where, index, len(options), frozenset(in_range), by_text=False)
    wanted = {_normal(answer_text), _normal(_unlabelled_answer(str(answer_text).strip()))}
    matching = frozenset(o for o in in_range if _normal(options[index - o]) in wanted)
    if not matching:
        holders = [i for i, option in enumerate(options) if _normal(option) in wanted]
        found = f"it is option {holders[0]} (0-based)" if holders else "no option has that text"
        raise MCQError(f"{where}: index {index} does not point at the answer text {answer_text!r} under any "
                       f"numbering ({found}); options: {list(options)}")
    return RowEvidence(where, index, len(options), matching, by_text=True)


@dataclass
class ConventionReport:
    """The release's index convention and what it rests on, for manifest.json."""

    offset: int
    basis: str
    rows: int = 0
    rows_checked_against_text: int = 0
    option_labels: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return dict(convention=OFFSETS[self.offset], basis=self.basis, rows=self.rows,
                    rows_checked_against_text=self.rows_checked_against_text,
                    option_labels=dict(sorted(self.option_labels.items())))


def release_convention(evidence: Sequence[RowEvidence], documented: int, labels: Counter) -> ConventionReport:
    """The one offset every row allows; ``documented`` (the release's own scorer) decides only a tie."""
    if not evidence:
        raise MCQError("the release has no rows")
    allowed = frozenset(OFFSETS).intersection(*(e.offsets for e in evidence))
    if not allowed:
        votes = Counter(o for e in evidence for o in e.offsets)
        majority = votes.most_common(1)[0][0]
        odd = next(e for e in evidence if majority not in e.offsets)
        reason = "its answer text" if odd.by_text else f"its {odd.n_options} options"
        raise MCQError(f"{odd.where}: index {odd.index} is only consistent with {OFFSETS[1 - majority]} numbering "
                       f"(by {reason}) while the release's other rows are {OFFSETS[majority]}; the row is "
                       f"inconsistent, so the release cannot be scored as is")
    by_text = sum(e.by_text for e in evidence)
    if len(allowed) == 1:
        offset = next(iter(allowed))
        basis = "answer text of every row that has one, and every index in range" if by_text else "index ranges"
    else:
        offset = documented
        basis = (f"no row tells 0- from 1-based; the release's documented convention ({OFFSETS[documented]}) "
                 f"is used and every index is in range under it")
    return ConventionReport(offset, basis, rows=len(evidence), rows_checked_against_text=by_text,
                            option_labels=dict(labels))
