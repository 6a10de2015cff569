"""Names, organisations and addresses: the structural rules, with look-alike negatives.

Address forms follow the national conventions Faker's address providers generate (and
presidio-research's synthetic set uses); names follow its person providers. The texts are
written for these tests, not copied from the evaluation files.
"""

from __future__ import annotations

import pytest

from vallum.detectors.pii import PiiDetector

DETECTOR = PiiDetector()

# (value, kind, text)
POSITIVES = [
    # addresses: house-number ranges, hyphenated German streets, postcode before the town
    ("Haasegasse 76-73, 53078 Paderborn", "STREET_ADDRESS",
     "lives at Haasegasse 76-73, 53078 Paderborn now"),
    ("Roswita-Adler-Weg 72, 37557 Freital", "STREET_ADDRESS",
     "send it to Roswita-Adler-Weg 72, 37557 Freital please"),
    ("Fritschstr. 43/30, 28125 Brilon", "STREET_ADDRESS", "at Fritschstr. 43/30, 28125 Brilon."),
    ("Fritschstr. 43/30", "STREET_ADDRESS", "at Fritschstr. 43/30 and nowhere else"),
    # UK: flat or studio first, Faker's street types ("Course", "Shores"), a postcode
    ("Flat 60, Atkins Shores, Gordonfurt, N0 7PR", "STREET_ADDRESS",
     "deliver to Flat 60, Atkins Shores, Gordonfurt, N0 7PR today"),
    ("095 Peter Course, Abdultown, W2H 5SS", "STREET_ADDRESS",
     "billing address is 095 Peter Course, Abdultown, W2H 5SS and phone"),
    # French: number and comma, lower-case street type; or no number but a postcode
    ("67, avenue de Pasquier, 38559 Bertrand", "STREET_ADDRESS",
     "c'est au 67, avenue de Pasquier, 38559 Bertrand depuis mai"),
    ("rue Humbert, 37251 Jacquetboeuf", "STREET_ADDRESS",
     "moved to rue Humbert, 37251 Jacquetboeuf last year"),
    # Hungarian street type after the name; quoted signature lines; two units
    ("6076 Piroska u. 97.", "STREET_ADDRESS", "offices at 6076 Piroska u. 97. since 2001"),
    ("228 Ringvej 144\n>Apt. 902\n>Qaqortoq", "STREET_ADDRESS",
     ">Ella Snider\n>228 Ringvej 144\n>Apt. 902\n>Qaqortoq\n>\n"),
    ("5570 Kaarikatu 32 Apt. 353 Suite 387, Danmarkshavn", "STREET_ADDRESS",
     "located at 5570 Kaarikatu 32 Apt. 353 Suite 387, Danmarkshavn."),
    # an intersection
    ("the corner of Kuusiku 7 and Alexander Flat", "STREET_ADDRESS",
     "send it to the corner of Kuusiku 7 and Alexander Flat?"),
    # names: a title after a role word, double-barrelled surnames, a title before a place name
    ("Mrs Deborah Burton", "PERSON", "Patient Mrs Deborah Burton, SSN on file"),
    ("Martin Hayes-Bennett", "PERSON", "Patient Martin Hayes-Bennett was discharged"),
    ("Ms. Austin", "PERSON", "Ms. Austin flew home on Sunday."),
    # names the lexicons do not hold: Title-case words that are no English words
    ("Gyala Antall", "PERSON", "Regards,\nGyala Antall\nSenior engineer"),
    # Polish feminine surnames and romanised Cyrillic names from Faker's locales
    ("Wisława Szczepańska", "PERSON", "Wisława Szczepańska's lawyer called"),
    # organisations: partnership before a company word, "year at", "<person> of <org>"
    ("Davis, Reynolds and Williamson Orchestra", "ORGANIZATION",
     "The Davis, Reynolds and Williamson Orchestra was founded in 1977."),
    ("Balefire Global", "ORGANIZATION", "and the following year at Balefire Global in Oslo"),
    ("Opencounter", "ORGANIZATION", "said Margaret S. Stouffer of Opencounter, and others"),
]  # fmt: skip

# (text, kind that must not be reported)
NEGATIVES = [
    ("Chapter 3 Summary", "STREET_ADDRESS"),
    ("Ship the package to 129, rue Dominique Riou, 84383 Sainte Stéphanie.", "PERSON"),
    ("Ship it to Flat 2, Rahman Branch, North Peter, G7 7GE.", "PERSON"),  # street, town
    ("South Africa was fun to visit.", "PERSON"),
    ("Our office moved to Porto Cervo last year.", "PERSON"),  # a town in the lexicon
    ("The Cautionary Tales were reprinted.", "PERSON"),  # Title-case English words
    ("The Davis, Reynolds and Williamson Orchestra was founded in 1977.", "PERSON"),
    ("She studied at the University of Mathematics.", "ORGANIZATION"),
    ("The flight from Paris was late.", "ORGANIZATION"),  # a place after "from"
]


@pytest.mark.parametrize(("value", "kind", "text"), POSITIVES)
def test_positive(value: str, kind: str, text: str) -> None:
    found = [(text[m.start : m.end], m.kind) for m in DETECTOR.detect(text)]
    assert (value, kind) in found


@pytest.mark.parametrize(("text", "kind"), NEGATIVES)
def test_negative(text: str, kind: str) -> None:
    assert [text[m.start : m.end] for m in DETECTOR.detect(text) if m.kind == kind] == []
