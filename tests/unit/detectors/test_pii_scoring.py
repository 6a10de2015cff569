"""``vallum eval``'s span scoring: presidio-research's merge of adjacent spans and its
entity classes (an address's city labelled GPE, a date of birth labelled DATE_TIME)."""

from __future__ import annotations

from vallum.detectors.base import Match
from vallum.eval.data import GoldSpan
from vallum.eval.scoring import match_spans, merge_adjacent

SCORED = frozenset({"STREET_ADDRESS", "PERSON", "DATE_OF_BIRTH"})


def _pred(kind: str, start: int, end: int) -> Match:
    return Match(kind, start, end, 0.9, "test", "1")


def test_fragments_of_one_address_merge_with_its_locality() -> None:
    text = "20789 Allika 46\n Suite 501\n Riisa\n\n Estonia 62488"
    gold = [
        GoldSpan("STREET_ADDRESS", 0, 5),
        GoldSpan("STREET_ADDRESS", 6, 15),
        GoldSpan("STREET_ADDRESS", 17, 26),
        GoldSpan("GPE", 28, 33),
        GoldSpan("GPE", 36, 43),
        GoldSpan("STREET_ADDRESS", 44, 49),
    ]
    assert merge_adjacent(gold, text, SCORED) == [GoldSpan("STREET_ADDRESS", 0, 49)]
    counts = match_spans(gold, [_pred("STREET_ADDRESS", 0, 33)], SCORED, text)
    assert (counts.tp["STREET_ADDRESS"], counts.fn["STREET_ADDRESS"]) == (1, 0)


def test_other_classes_and_words_between_do_not_merge() -> None:
    text = "Anna Berg lives at 12 Main Street"
    gold = [GoldSpan("PERSON", 0, 9), GoldSpan("STREET_ADDRESS", 19, 33)]
    assert merge_adjacent(gold, text, SCORED) == gold
    text = "Kónya, Becker and Hall"
    two = [GoldSpan("PERSON", 0, 5), GoldSpan("PERSON", 18, 22)]
    assert merge_adjacent(two, text, SCORED) == two  # "and" is a word, not punctuation


def test_a_date_of_birth_labelled_date_time_is_not_a_false_positive() -> None:
    text = "She was born on 2/8/1935 in Oslo"
    gold = [GoldSpan("DATE_TIME", 16, 24)]
    counts = match_spans(gold, [_pred("DATE_OF_BIRTH", 16, 24)], SCORED, text)
    assert counts.fp["DATE_OF_BIRTH"] == 0 and counts.tp["DATE_OF_BIRTH"] == 0
    # without the text (the old call) the prediction is still judged against scored kinds
    assert match_spans(gold, [_pred("DATE_OF_BIRTH", 16, 24)], SCORED).fp["DATE_OF_BIRTH"] == 1


def test_a_person_on_an_unscored_span_of_another_class_is_still_wrong() -> None:
    text = "Dr. Anna Berg"
    gold = [GoldSpan("TITLE", 0, 3)]
    counts = match_spans(gold, [_pred("PERSON", 0, 3)], SCORED, text)
    assert counts.fp["PERSON"] == 1
