"""The generative protocol's prompt and the three ways of reading an answer from a response (DESIGN §4).

``code`` is the rule of the authors' evaluation code (the paper's numbers), ``paper_text`` the rule described in
the paper's appendix F.1, ``strict`` a stricter parser for sensitivity analyses. Every rule returns the option
index the response is credited with (-1 = unparseable) and whether that is the gold option. Unlike the authors'
code, answers are compared verbatim: no "nan" → "np.nan" substitution (it broke words such as "dominant").
"""

from __future__ import annotations

import re
from string import ascii_uppercase
from typing import Callable, NamedTuple, Sequence

# Bump when the text a model sees, or the way its answer is read, changes (stamped on every prediction row).
PROMPT_VERSION = "letter-mcq-v1"
PARSER_VERSION = "match-v1"
INSTRUCTION = "Answer with a single letter, no extra details."


class Match(NamedTuple):
    parsed_idx: int  # option index the response is credited with; -1 = unparseable
    correct: bool


def letters(n_options: int) -> str:
    if n_options > len(ascii_uppercase):
        raise ValueError(f"{n_options} options cannot be lettered A–Z")
    return ascii_uppercase[:n_options]


def lettered_options(options: Sequence[str]) -> list[str]:
    return [f"{letter}) {option}" for letter, option in zip(letters(len(options)), options)]


def build_prompt(question: str, options: Sequence[str]) -> str:
    """The paper's prompt, byte for byte: no space after ``Question:``, one option per line, no trailing newline."""
    return INSTRUCTION + "\n" + "Question:" + question + "\n" + "\n".join(lettered_options(options))


def _first_letter(response: str, n_options: int) -> int:
    """Index of the option whose letter is the response's first character (case-sensitive), else -1."""
    return letters(n_options).find(response[:1]) if response else -1


def _first_contained(response: str, needles: Sequence[str]) -> int:
    """Index of the needle occurring earliest in the response (ties: the longer needle), else -1."""
    hits = [(response.find(n), -len(n), i) for i, n in enumerate(needles) if n and n in response]
    return min(hits)[2] if hits else -1


def _credited(gold_hit: bool, answer_idx: int, fallback: int) -> Match:
    """A rule that accepts the gold answer credits it; otherwise the option the response points at instead."""
    return Match(answer_idx, True) if gold_hit else Match(fallback, False)


def match_code(response: str, options: Sequence[str], answer_idx: int) -> Match:
    """Authors' code: ``"<L>) <answer text>"`` occurs in the response (case-sensitive), or its first char is L."""
    lettered = lettered_options(options)
    gold_hit = lettered[answer_idx] in response or response[:1] == letters(len(options))[answer_idx]
    other = _first_contained(response, lettered)
    return _credited(gold_hit, answer_idx, other if other >= 0 else _first_letter(response, len(options)))


def match_paper_text(response: str, options: Sequence[str], answer_idx: int) -> Match:
    """Appendix F.1: the lower-cased answer text found in the lower-cased response first, then the first char."""
    lowered = response.lower()
    texts = [option.lower() for option in options]
    gold_hit = texts[answer_idx] in lowered or response[:1] == letters(len(options))[answer_idx]
    other = _first_contained(lowered, texts)
    return _credited(gold_hit, answer_idx, other if other >= 0 else _first_letter(response, len(options)))


_STRICT = re.compile(r"[\s(*\[]*([A-Z])(?![A-Za-z0-9])")


def match_strict(response: str, options: Sequence[str], answer_idx: int) -> Match:
    """The response must open with a standalone option letter ("B", "B) …", "(B)", "**B**"), upper case."""
    found = _STRICT.match(response.strip())
    parsed = letters(len(options)).find(found.group(1)) if found else -1
    return Match(parsed, parsed == answer_idx)


RULES: dict[str, Callable[[str, Sequence[str], int], Match]] = {
    "code": match_code,
    "paper_text": match_paper_text,
    "strict": match_strict,
}


def match_all(response: str | None, options: Sequence[str], answer_idx: int) -> dict[str, Match]:
    """Every rule's reading of one response; a missing response is unparseable under all of them."""
    if response is None:
        return {rule: Match(-1, False) for rule in RULES}
    return {rule: match(response, list(options), int(answer_idx)) for rule, match in RULES.items()}
