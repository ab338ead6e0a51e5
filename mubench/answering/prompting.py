"""The generative protocols: how a question is put to a model, and how its answer is read (DESIGN §4).

μ-Bench's letter prompt (``mubench_letter``) is read by three rules: ``code`` is the rule of the authors'
evaluation code (the paper's numbers), ``paper_text`` the rule described in the paper's appendix F.1, ``strict`` a
stricter parser for sensitivity analyses. Unlike the authors' code, answers are compared verbatim: no "nan" →
"np.nan" substitution (it broke words such as "dominant"). MicroVQA's chain-of-thought prompt (``microvqa_cot``,
from its authors' ``eval/eval.py`` in github.com/jmhb0/microvqa) is read by its own rule, ``microvqa``. Every rule
returns the option index the response is credited with (-1 = unparseable) and whether that is the gold option.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Callable, NamedTuple, Sequence

from mubench.benchmark.tables import LETTER_PROTOCOL, LINE_BREAKS, MAX_OPTIONS, OPTION_NAMES
from mubench.models.base import letters

# Bump when the text a model sees, or the way its answer is read, changes (stamped on every prediction row).
PROMPT_VERSION = "letter-mcq-v1"
PARSER_VERSION = "match-v1"
INSTRUCTION = "Answer with a single letter, no extra details."


class Match(NamedTuple):
    parsed_idx: int  # option index the response is credited with; -1 = unparseable
    correct: bool


def one_line(text: str) -> str:
    """``text`` unchanged, or, when it holds line breaks, its lines stripped and joined by one space."""
    if not LINE_BREAKS.intersection(text):
        return text
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def lettered_options(options: Sequence[str]) -> list[str]:
    """"A) …" per option, each on one line (``one_line``): what the prompt shows and what ``code`` looks for."""
    return [f"{letter}) {one_line(option)}" for letter, option in zip(letters(len(options)), options)]


def build_prompt(question: str, options: Sequence[str]) -> str:
    """The paper's prompt, byte for byte: no space after ``Question:``, one option per line, no trailing newline.
    A question or option holding line breaks is shown on one line, so it cannot add a line that reads as an option
    of its own (benchmark/tables.py: line_break_questions counts them)."""
    return INSTRUCTION + "\n" + "Question:" + one_line(question) + "\n" + "\n".join(lettered_options(options))


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
    texts = [one_line(option).lower() for option in options]
    gold_hit = texts[answer_idx] in lowered or response[:1] == letters(len(options))[answer_idx]
    other = _first_contained(lowered, texts)
    return _credited(gold_hit, answer_idx, other if other >= 0 else _first_letter(response, len(options)))


_STRICT = re.compile(r"[\s(*\[]*([A-Z])(?![A-Za-z0-9])")


def match_strict(response: str, options: Sequence[str], answer_idx: int) -> Match:
    """The response must open with a standalone option letter ("B", "B) …", "(B)", "**B**"), upper case."""
    found = _STRICT.match(response.strip())
    parsed = letters(len(options)).find(found.group(1)) if found else -1
    return Match(parsed, parsed == answer_idx)


# MicroVQA (eval/eval.py of github.com/jmhb0/microvqa, after MMLU-Pro): an instruction to reason step by step and end
# with "The answer is (X)", the question, and the options numbered from 1 as "  (1): …", one per line.
MICROVQA_PROMPT_VERSION = "microvqa-cot-v1"
MICROVQA_PARSER_VERSION = "microvqa-regex-v1"
MICROVQA_INSTRUCTION = ("The following is a multiple choice question (with answers). \nThink step by step and then "
                        'output the answer in the format of "The answer is (X)" at the end.')


def build_microvqa_prompt(question: str, options: Sequence[str]) -> str:
    """MicroVQA's prompt, byte for byte: the option block ends with a newline and the prompt with one more. An option
    holding line breaks is shown on one line; the question keeps its lines (MicroVQA's own questions have some, and
    the answer is read by number, which no line of the question can change)."""
    numbered = "".join(f"  ({number}): {one_line(option)}\n" for number, option in enumerate(options, start=1))
    return f"{MICROVQA_INSTRUCTION}\n\n{question}\n\nOptions:\n{numbered}\n"


# MicroVQA's scorer: the first "answer is" (case-sensitive), up to two "*", an optional "(", then ONE digit; the
# option is that digit − 1. No match is a bad response; a digit naming no option (0, or above the count) is one too.
_MICROVQA_ANSWER = re.compile(r"answer is \*{0,2}\(?([0-9])")


def match_microvqa(response: str, options: Sequence[str], answer_idx: int) -> Match:
    if len(options) > MAX_OPTIONS["microvqa_cot"]:  # the digit would name the wrong option ("(30)" → 3)
        raise ValueError(f"{len(options)} options: MicroVQA's answer regex reads one digit, so it addresses at most "
                         f"{MAX_OPTIONS['microvqa_cot']}")
    found = _MICROVQA_ANSWER.search(response)
    parsed = int(found.group(1)) - 1 if found else -1
    parsed = parsed if 0 <= parsed < len(options) else -1
    return Match(parsed, parsed == answer_idx)


def microvqa_bad_response(response: str) -> bool:
    """A bad response as MicroVQA's own scorer counts it (``calculate_metrics`` in the authors' eval/eval.py): no
    digit read, or a digit outside 1–5 whatever the question's option count. match_microvqa instead rejects only
    digits naming no option, so on a question with six options "(6)" is an answer here and bad there (yet right in
    both when option 6 is the answer). Accuracy is the same under both: both read the same digit."""
    found = _MICROVQA_ANSWER.search(response or "")
    return not found or not 1 <= int(found.group(1)) <= 5


RULES: dict[str, Callable[[str, Sequence[str], int], Match]] = {
    "code": match_code,
    "paper_text": match_paper_text,
    "strict": match_strict,
    "microvqa": match_microvqa,
}


class Protocol(NamedTuple):
    """A prompt with the rules that read its answers; stamped on every prediction row as prompt/parser version."""

    name: str
    prompt_version: str
    parser_version: str
    build_prompt: Callable[[str, Sequence[str]], str]
    rules: tuple[str, ...]  # the first is the default reading
    lettered: bool  # options carry letters, so `scoring: letter_logits` can pick one

    def rule(self, matching: str) -> str:
        """The model's configured matching rule when it reads this protocol's answers, else the protocol's own."""
        return matching if matching in self.rules else self.rules[0]

    @property
    def max_options(self) -> int:
        """How many options the prompt and its rules can address (benchmark/tables.py: MAX_OPTIONS)."""
        return MAX_OPTIONS[self.name]

    def check_addressable(self, question_id: str, n_options: int) -> None:
        """Refuse a question with more options than this protocol can name, naming it."""
        if n_options > self.max_options:
            raise ValueError(f"question {question_id}: {n_options} options, more than the {self.name} prompt can "
                             f"address ({self.max_options}: {OPTION_NAMES[self.name]}); the benchmark must leave "
                             "it out")


PROTOCOLS = {
    "mubench_letter": Protocol("mubench_letter", PROMPT_VERSION, PARSER_VERSION, build_prompt,
                               ("code", "paper_text", "strict"), lettered=True),
    "microvqa_cot": Protocol("microvqa_cot", MICROVQA_PROMPT_VERSION, MICROVQA_PARSER_VERSION, build_microvqa_prompt,
                             ("microvqa",), lettered=False),
}
DEFAULT_PROTOCOL = LETTER_PROTOCOL


def protocol_of(manifest: Mapping) -> Protocol:
    """The protocol a prepared benchmark asks its questions with (manifest ``protocol``; μ-Bench's by default)."""
    name = manifest.get("protocol", DEFAULT_PROTOCOL)
    if name not in PROTOCOLS:
        raise ValueError(f"benchmark manifest names protocol {name!r}; known: {sorted(PROTOCOLS)}")
    return PROTOCOLS[name]


def match_all(response: str | None, options: Sequence[str], answer_idx: int,
              rules: Sequence[str] = PROTOCOLS[DEFAULT_PROTOCOL].rules) -> dict[str, Match]:
    """The given rules' readings of one response; a missing response is unparseable under all of them."""
    if response is None:
        return {rule: Match(-1, False) for rule in rules}
    return {rule: RULES[rule](response, list(options), int(answer_idx)) for rule in rules}
