"""Person and organisation names: cues, lower-case names, particles, company words and
employer phrases — each rule with look-alike negatives.

The texts are written for these tests in the styles the detector meets (e-mails, chat
transcripts, support tickets, bios, news); none is copied from the evaluation files.
"""

from __future__ import annotations

import pytest

from vallum.detectors.pii import PiiDetector

DETECTOR = PiiDetector()

# (value, kind, text)
POSITIVES = [
    # a greeting, sign-off or naming cue before a name no lexicon knows
    ("Manlio", "PERSON", "Hi Manlio, the parcel left the depot this morning."),
    ("Oisinbert", "PERSON", "Thanks for the quick fix.\n\nRegards,\nOisinbert"),
    ("Piusz", "PERSON", "Most people call me Piusz"),
    ("Arcuri", "PERSON", "What's your last name? Arcuri"),
    ("Quinzia", "PERSON", "I'd like to join accounts with ms. Quinzia"),
    # a known surname after a reporting verb or a naming cue
    ("Becker", "PERSON", '"We ship on Monday," says Becker.'),
    # a surname repeated shortly after the full name
    ("Borkowski", "PERSON", "The film was directed by Maciej Borkowski and starring Borkowski."),
    # a first name and a surname that is also a word, or an initial without its full stop
    ("Ivan King", "PERSON", "Please change the account holder to Ivan King"),
    ("Martim A Pereira", "PERSON", "Name: Martim A Pereira\nCity: Lyss"),
    # particles after a hyphen or inside the surname
    ("Stijn Schenkel-van Vlaanderen", "PERSON", "I am Stijn Schenkel-van Vlaanderen from Delft."),
    ("Alex Berthelot de la Brunel", "PERSON", "Refund it to Alex Berthelot de la Brunel."),
    # lower case: after a naming cue (any script), or opening a line
    ("višeslav", "PERSON", "sometimes people call me višeslav"),
    ("borna jerković", "PERSON", "my name is borna jerković but everyone calls me borna"),
    ("hyuuma t. maida", "PERSON", "name:    hyuuma t. maida\naddress: unit 4526"),
    ("jozef kowalski", "PERSON", "jozef kowalski lives at 12 main st"),
    ("leone mazzi", "PERSON", "leone mazzi\n\nnurse\n\npersonal info:"),
    # organisations: company words, "and Sons", employer phrases and roles, acting like one
    ("Knowledge Agency", "ORGANIZATION", "Katrina Mota\nKnowledge Agency\n12 Acheron Road"),
    ("Thomas and Sons", "ORGANIZATION", "Thomas and Sons is a family-run bakery."),
    ("Wolfram Research", "ORGANIZATION", "Wolfram Research announced a new release."),
    ("Alaska Airlines", "ORGANIZATION", "I found a seat on Alaska Airlines for Friday."),
    ("Stripe", "ORGANIZATION", "I interned at Stripe last summer."),
    ("Datadog", "ORGANIZATION", "She is a senior engineer at Datadog."),
    ("Monzo", "ORGANIZATION", "I have an account with Monzo since 2019."),
    ("Costquest", "ORGANIZATION", "according to the Costquest website, prices went up"),
]  # fmt: skip

# (text, kind): look-alikes that must stay unreported
NEGATIVES = [
    ("Hi Team, the build is green again.", "PERSON"),  # a common word after a greeting
    ("Hello World! is the first program.", "PERSON"),
    ("Bot: What's the name on the account?\nUser: it is on file", "PERSON"),  # speaker label
    ("Dear Manlio Industries board members", "PERSON"),  # no phrase end after the word
    ("The tests are spied on by Jenkins every night.", "PERSON"),  # a weak cue ("by")
    ("Unique Indexes\n\nIndexes can also enforce uniqueness.", "PERSON"),  # no first name
    ("Customer: No, I'm done with that for now.", "PERSON"),  # lower case English after "I'm"
    ("If no user name is specified, the default is used.", "PERSON"),
    ("name: nginx\nimage: latest", "PERSON"),  # a label with one unknown word
    ("the quick brown fox jumps\nover the lazy dog", "PERSON"),  # lower-case line openings
    ("if x:\n    elif op in (LITERAL, NOT_LITERAL):\n", "PERSON"),  # an indented code line
    ("GnuPG is Free Software (meaning it respects you).", "ORGANIZATION"),  # Title Case prose
    ("Thomas was here and Sonja too.", "ORGANIZATION"),  # "and" + a name, not "Sons"
    ("I work at home most days.", "ORGANIZATION"),
    ("The agency director at Paris spoke.", "ORGANIZATION"),  # a place after a role + "at"
    ("Anna Berg announced her retirement.", "ORGANIZATION"),  # a person acting
]  # fmt: skip


# (text, value): a name rule must not stretch a match over these ("Chase" alone may still
# read as a first name; "Chase Field" must not read as a full name)
NOT_EXTENDED = [
    ("What are some movies at Chase Field this week?", "Chase Field"),  # both parts are words
    ("The Roman Wall can be traced eastwards.", "Roman Wall"),  # a building or work
    ("The Canal de la Mancha is narrow here.", "Canal de la Mancha"),  # no first name first
    ("recordings include J.J. Jackson The Sandpebbles", "Jackson The"),  # a function word
]


@pytest.mark.parametrize(("value", "kind", "text"), POSITIVES)
def test_positive(value: str, kind: str, text: str) -> None:
    found = [(text[m.start : m.end], m.kind) for m in DETECTOR.detect(text)]
    assert (value, kind) in found


@pytest.mark.parametrize(("text", "kind"), NEGATIVES)
def test_negative(text: str, kind: str) -> None:
    assert [text[m.start : m.end] for m in DETECTOR.detect(text) if m.kind == kind] == []


@pytest.mark.parametrize(("text", "value"), NOT_EXTENDED)
def test_not_extended(text: str, value: str) -> None:
    assert value not in [text[m.start : m.end] for m in DETECTOR.detect(text)]


def test_a_repeated_surname_needs_the_full_name_within_the_stream_context() -> None:
    """The look-behind for an earlier full name is the 64 characters a stream window keeps
    as context, so a streamed reply is decided as the buffered one."""
    near = "We met Maciej Wrzosz at the fair; later Wrzosz wrote back."
    far = (
        "We met Maciej Wrzosz at the fair" + " and a long aside" * 3 + "; later Wrzosz wrote back."
    )
    assert [near[m.start : m.end] for m in DETECTOR.detect(near)] == ["Maciej Wrzosz", "Wrzosz"]
    assert [far[m.start : m.end] for m in DETECTOR.detect(far)] == ["Maciej Wrzosz"]
