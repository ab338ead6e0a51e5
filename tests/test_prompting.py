"""The generative prompt, byte for byte, and the three matching rules on real-looking answers."""

from __future__ import annotations

import pytest

from mubench.answering.prompting import Match, build_prompt, match_all, match_code, match_paper_text, match_strict

OPTIONS = ["neutrophil", "basophil", "eosinophil", "none of the above"]  # gold: B) basophil


def test_prompt_bytes_are_the_papers():
    prompt = build_prompt("Which cell type is shown?", OPTIONS)
    assert prompt.encode() == (
        b"Answer with a single letter, no extra details.\n"
        b"Question:Which cell type is shown?\n"
        b"A) neutrophil\nB) basophil\nC) eosinophil\nD) none of the above"
    )


def test_prompt_keeps_question_and_options_verbatim():
    assert build_prompt(" What is  it? ", ["x ", "dominant"]) == (
        "Answer with a single letter, no extra details.\nQuestion: What is  it? \nA) x \nB) dominant"
    )
    with pytest.raises(ValueError, match="27 options"):
        build_prompt("q", [str(i) for i in range(27)])


# response → (code, paper_text, strict) as Match(parsed_idx, correct) with gold index 1 ("B) basophil")
CASES = {
    "B": ((1, True), (1, True), (1, True)),
    "B) basophil": ((1, True), (1, True), (1, True)),
    "B.": ((1, True), (1, True), (1, True)),
    " B": ((-1, False), (-1, False), (1, True)),  # code and paper_text look at the raw first character
    "(B)": ((-1, False), (-1, False), (1, True)),
    "The answer is basophil": ((-1, False), (1, True), (-1, False)),
    "The answer is B) basophil": ((1, True), (1, True), (-1, False)),
    "Basophil": ((1, True), (1, True), (-1, False)),  # first character happens to be the gold letter
    "b": ((-1, False), (-1, False), (-1, False)),
    "b) basophil": ((-1, False), (1, True), (-1, False)),
    "": ((-1, False), (-1, False), (-1, False)),
    "A": ((0, False), (0, False), (0, False)),
    "A) neutrophil": ((0, False), (0, False), (0, False)),
    "C) eosinophil, not B) neutrophil": ((2, False), (2, False), (2, False)),
    "E": ((-1, False), (-1, False), (-1, False)),  # a letter that is no option
    "Neutrophil": ((-1, False), (0, False), (-1, False)),
}


@pytest.mark.parametrize("response", list(CASES))
def test_matching_rules_on_real_looking_answers(response):
    expected = dict(zip(("code", "paper_text", "strict"), (Match(*m) for m in CASES[response])))
    assert match_all(response, OPTIONS, 1) == expected


def test_nan_inside_words_is_not_rewritten():
    options = ["recessive", "dominant", "nan"]
    assert match_code("B) dominant", options, 1) == Match(1, True)
    assert match_paper_text("it is dominant", options, 1) == Match(1, True)
    assert match_code("C) nan", options, 2) == Match(2, True)
    assert match_code("B) domip.nant", options, 1) == Match(1, True)  # via first character only
    assert match_paper_text("domip.nant", options, 1) == Match(2, False)  # the bug's text reads as "nan"


def test_missing_response_is_unparseable_everywhere():
    assert set(match_all(None, OPTIONS, 1).values()) == {Match(-1, False)}


def test_strict_wants_an_upper_case_standalone_letter():
    assert match_strict("**C**", OPTIONS, 2) == Match(2, True)
    assert match_strict("D\n", OPTIONS, 3) == Match(3, True)
    assert match_strict("Definitely D", OPTIONS, 3) == Match(-1, False)
