"""English cleaner for TTS: numbers, money, times, percent and symbols said as words."""

import pytest

from audiokit.text.cleaners import CHARACTERS, english_cleaner, get_cleaner


@pytest.mark.parametrize("text, said", [
    ("4:30", "four thirty"),
    ("4:05", "four oh five"),
    ("4:00", "four o'clock"),
    ("It is 12:45AM", "it is twelve forty five a m"),
    ("$5", "five dollars"),
    ("$1", "one dollar"),
    ("$5.50", "five dollars fifty cents"),
    ("$0.01", "one cent"),
    ("£2", "two pounds"),
    ("3%", "three percent"),
    ("2.5%", "two point five percent"),
    ("3.14", "three point one four"),
    ("1,000 items", "one thousand items"),
    ("21st", "twenty first"),
    ("1st 2nd 3rd", "first second third"),
    ("1234", "one thousand two hundred and thirty four"),
    ("Dr. Smith & Mr. Jones", "doctor smith and mister jones"),
    ("A + B = C", "a plus b equals c"),
    ("Three One Four", "three one four"),
    ("Café “quoted” (x)", "cafe quoted x"),
    ("wait -- what?!", "wait, what?"),
    ("well-known; done...", "well known, done."),
    ("  lots   of\tspace ", "lots of space"),
])
def test_english_cleaner(text, said):
    assert english_cleaner(text) == said


def test_cleaned_english_uses_only_the_character_set():
    text = "Dr. O'Neil paid $3.20 (20% off) at 9:15 on the 3rd -- wow!"
    assert set(english_cleaner(text)) <= set(CHARACTERS)


def test_other_scripts_are_kept_for_the_tokenizer_to_name():
    assert english_cleaner("中文 ok") == "中文 ok"


def test_unknown_cleaner_and_bad_type():
    with pytest.raises(ValueError, match="unknown text cleaner 'nope'"):
        get_cleaner("nope")
    with pytest.raises(TypeError):
        english_cleaner(3)
