"""normalize(): written English -> speakable words. Table-driven, one table per category."""

from __future__ import annotations

import re
import statistics
import time

import pytest
from parley_engine.text import normalize

CARDINALS = [
    ("0", "zero"),
    ("7", "seven"),
    ("42", "forty-two"),
    ("101", "one hundred one"),
    ("1000", "one thousand"),
    ("1,000", "one thousand"),
    ("1,234,567 apples.", "one million two hundred thirty-four thousand five hundred sixty-seven apples."),
    (
        "123,456,789,012",
        "one hundred twenty-three billion four hundred fifty-six million seven hundred eighty-nine "
        "thousand twelve",
    ),
    ("10,000,000", "ten million"),
    ("1000000 dollars", "one million dollars"),
    ("3.14", "three point one four"),
    ("0.5", "zero point five"),
    (".25", "zero point two five"),
    ("1,234.5", "one thousand two hundred thirty-four point five"),
    ("-7", "minus seven"),
    ("It was -5 degrees, and -3.5 later.", "It was minus five degrees, and minus three point five later."),
    ("Agent 007.", "Agent zero zero seven."),
    ("Account 12345678901.", "Account one two three four five six seven eight nine zero one."),
]

ORDINALS = [
    ("1st", "first"),
    ("2nd", "second"),
    ("3rd", "third"),
    ("4th", "fourth"),
    ("11th", "eleventh"),
    ("12th", "twelfth"),
    ("21st", "twenty-first"),
    ("22nd", "twenty-second"),
    ("103rd", "one hundred third"),
    ("1000th", "one thousandth"),
    ("He came 1st, she 22nd, they 103rd.", "He came first, she twenty-second, they one hundred third."),
]

YEARS = [
    ("in 1999", "in nineteen ninety-nine"),
    ("In 2024, we won.", "In twenty twenty-four, we won."),
    ("since 2005", "since two thousand five"),
    ("It was 1999.", "It was nineteen ninety-nine."),
    ("He was born in 1066.", "He was born in ten sixty-six."),
    ("by 2100", "by twenty-one hundred"),
    ("The year 2000 was fine.", "The year two thousand was fine."),
    ("from 1990 to 1995", "from nineteen ninety to nineteen ninety-five"),
    ("between 1990 and 1995", "between nineteen ninety and nineteen ninety-five"),
    ("1200 BC", "twelve hundred BC"),
    ("(2019)", "(twenty nineteen)"),
    ("1990-1995", "nineteen ninety to nineteen ninety-five"),
    ("1990-95", "nineteen ninety to ninety-five"),
    ("The 2020-21 season", "The twenty twenty to twenty-one season"),
    ("the 1990s", "the nineteen nineties"),
    ("the '90s", "the nineties"),
    ("the 80s", "the eighties"),
    ("1800s", "eighteen hundreds"),
    ("summer of '69", "summer of sixty-nine"),
    # counts, not years
    ("I have 2024 apples.", "I have two thousand twenty-four apples."),
    ("over 1500 people", "over one thousand five hundred people"),
    ("2048 bytes", "two thousand forty-eight bytes"),
]

DATES = [
    ("2024-03-15", "March fifteenth, twenty twenty-four"),
    ("3/15/2024", "March fifteenth, twenty twenty-four"),
    ("15/3/2024", "the fifteenth of March twenty twenty-four"),
    ("15.03.2024", "the fifteenth of March twenty twenty-four"),
    ("3/15/24", "March fifteenth, twenty-four"),
    ("March 3rd, 2024", "March third, twenty twenty-four"),
    ("March 3, 2024", "March third, twenty twenty-four"),
    ("15 March 2024", "the fifteenth of March twenty twenty-four"),
    ("the 3rd of March", "the third of March"),
    ("on 3 Mar.", "on the third of March."),
    ("Mar. 3", "March third"),
    ("Sept 11", "September eleventh"),
    ("March 2024", "March twenty twenty-four"),
    ("Mon., Jan. 5", "Monday, January fifth"),
]

TIMES = [
    ("7:30 pm", "seven thirty PM"),
    ("Meet at 7:30 PM.", "Meet at seven thirty PM."),
    ("14:05", "fourteen oh five"),
    ("14:00", "fourteen hundred"),
    ("7:00", "seven o'clock"),
    ("7:00 am", "seven AM"),
    ("00:30", "twelve thirty AM"),
    ("9am", "nine AM"),
    ("11pm", "eleven PM"),
    ("Call me at 9 a.m. Tomorrow works.", "Call me at nine AM. Tomorrow works."),
    ("7.30pm", "seven thirty PM"),
    ("10:30:15", "ten thirty and fifteen seconds"),
    ("John 3:16", "John three sixteen"),
    ("a 3:2 ratio", "a three to two ratio"),
]

CURRENCY = [
    ("$9.99", "nine dollars and ninety-nine cents"),
    ("$1,250", "one thousand two hundred fifty dollars"),
    ("$1", "one dollar"),
    ("$1.00", "one dollar"),
    ("$0.50", "fifty cents"),
    ("$0.01", "one cent"),
    ("£5", "five pounds"),
    ("£0.50", "fifty pence"),
    ("€1.5 million", "one point five million euros"),
    ("€2.50", "two euros and fifty cents"),
    ("50¢", "fifty cents"),
    ("$3.5M", "three point five million dollars"),
    ("$10k", "ten thousand dollars"),
    ("$5 billion", "five billion dollars"),
    ("¥500", "five hundred yen"),
    ("-$5", "minus five dollars"),
    ("5€", "five euros"),
    ("100 USD", "one hundred US dollars"),
    ("$5-$10", "five to ten dollars"),
    ("$5-10 per hour.", "five to ten dollars per hour."),
]

PERCENT = [
    ("12.5%", "twelve point five percent"),
    ("100 %", "one hundred percent"),
    ("-3%", "minus three percent"),
    ("10-20% off.", "ten to twenty percent off."),
    ("50% off", "fifty percent off"),
]

ABBREVIATIONS = [
    ("Dr. Smith", "Doctor Smith"),
    ("Dr Smith", "Doctor Smith"),
    ("Elm Dr. is closed.", "Elm Drive is closed."),
    ("Mr. and Mrs. Jones met Ms. Lee.", "Mister and Missus Jones met Miz Lee."),
    ("St. Louis", "Saint Louis"),
    ("Main St.", "Main Street."),
    ("Dr. Smith lives on Main St. near St. Paul's.", "Doctor Smith lives on Main Street near Saint Paul's."),
    ("5th St. NW", "fifth Street NW"),
    ("Martin Luther King Jr. was born.", "Martin Luther King Junior was born."),
    ("Cats vs. dogs", "Cats versus dogs"),
    ("Cats vs dogs", "Cats versus dogs"),
    ("a, b, etc. are fine.", "a, b, et cetera are fine."),
    ("Apples, pears, etc.", "Apples, pears, et cetera."),
    ("e.g. this, i.e. that", "for example this, that is that"),
    ("It weighs approx. 5 kg.", "It weighs approximately five kilograms."),
    ("See No. 5.", "See number five."),
    ("I said no.", "I said no."),
    ("No. I refuse.", "No. I refuse."),
    ("Jan. 5", "January fifth"),
    ("I met Jan.", "I met Jan."),
    ("Read pp. 10-15 and p. 3.", "Read pages ten to fifteen and page three."),
    ("It happened c. 1500.", "It happened circa fifteen hundred."),
    ("Prof. X and Gen. Patton", "Professor X and General Patton"),
    ("Gen Z", "Gen Z"),
    ("Mon-Fri", "Monday to Friday"),
    ("The U.S. Army", "The US Army"),
    ("I live in the U.S.", "I live in the US."),
    ("J. K. Rowling", "J K Rowling"),
    ("World War II and Henry VIII", "World War two and Henry the eighth"),
    ("Chapter IV", "Chapter four"),
    ("Then John I think so", "Then John I think so"),
    ("w/ cheese, w/o onions", "with cheese, without onions"),
    ("the Return — part II.", "the Return — part two."),
    ("in part I agree", "in part I agree"),
    ("ext. 42", "extension forty-two"),
]

UNITS = [
    ("5 km", "five kilometers"),
    ("1 km", "one kilometer"),
    ("2.5 kg", "two point five kilograms"),
    ("10 mph", "ten miles per hour"),
    ("100 km/h", "one hundred kilometers per hour"),
    ("20°C", "twenty degrees Celsius"),
    ("-40 °F", "minus forty degrees Fahrenheit"),
    ("90°", "ninety degrees"),
    ("5 ml", "five milliliters"),
    ("2 GB", "two gigabytes"),
    ("3 GHz", "three gigahertz"),
    ("250 ms", "two hundred fifty milliseconds"),
    ("5 s", "five seconds"),
    ("100 m²", "one hundred square meters"),
    ("5 µm", "five micrometers"),
    ("5 ft 10 in", "five feet ten inches"),
    ("1 in 3 adults", "one in three adults"),
    ("sleep < 7 hrs/night", "sleep less than seven hours per night"),
    ("He ran the 100m in 9.58s.", "He ran the one hundred meters in nine point five eight seconds."),
    ("He is 5'10\" tall.", "He is five feet ten inches tall."),
    ("I have 10k steps and 5M users.", "I have ten thousand steps and five million users."),
    (
        "A 1920x1080 screen is 2x faster.",
        "A one thousand nine hundred twenty by one thousand eighty screen is two times faster.",
    ),
]

SYMBOLS = [
    ("A & B", "A and B"),
    ("R&D", "R and D"),
    ("1 + 1 = 2", "one plus one equals two"),
    ("5 - 3 = 2", "five minus three equals two"),
    ("x < y", "x less than y"),
    ("<5", "less than five"),
    ("~5", "about five"),
    ("±5", "plus or minus five"),
    ("@handle", "at handle"),
    ("#5", "number five"),
    ("#hashtag", "hashtag"),
    ("x² + y² = z²", "x squared plus y squared equals z squared"),
    ("2π", "two pi"),
    ("H₂O", "H two O"),
    ("a -> b", "a to b"),
    ("and/or", "and or"),
    ("user@example.com", "user at example dot com"),
    (
        "visit https://www.example.com/docs/page.html.",
        "visit w w w dot example dot com slash docs slash page dot html.",
    ),
    ("[citation needed] {x}", "(citation needed) (x)"),
    ("**bold** and _italic_ and `code`", "bold and italic and code"),
    ("## See [the docs](https://docs.example.com/start).", "See the docs."),
    ("* **Note:** needs ~2 GB", "Note: needs about two gigabytes"),
    ("snake -- dash - spaced", "snake — dash — spaced"),
]

RANGES_FRACTIONS = [
    ("10-20", "ten to twenty"),
    ("Pages 10-20 are good.", "Pages ten to twenty are good."),
    ("pages 10–20", "pages ten to twenty"),
    ("1/2", "one half"),
    ("3/4 cup", "three quarters cup"),
    ("2/3", "two thirds"),
    ("1 1/2", "one and a half"),
    ("1½", "one and a half"),
    ("½", "one half"),
    ("24/7", "twenty-four seven"),
    ("rated 7/10", "rated seven out of ten"),
    ("1.2.3", "one point two point three"),
    ("192.168.0.1", "one hundred ninety-two dot one hundred sixty-eight dot zero dot one"),
]

DIGIT_STRINGS = [
    ("555-123-4567", "five five five, one two three, four five six seven"),
    ("(555) 123-4567", "five five five, one two three, four five six seven"),
    ("+1 555 123 4567", "plus one, five five five, one two three, four five six seven"),
    ("+44 20 7946 0958", "plus four four, two zero, seven nine four six, zero nine five eight"),
    ("1-800-555-0199", "one, eight zero zero, five five five, zero one nine nine"),
    ("123-45-6789", "one two three, four five, six seven eight nine"),
    ("5551234567", "five five five one two three four five six seven"),
]

LETTERS_AND_DIGITS = [
    ("COVID-19", "COVID-nineteen"),
    ("MP3", "MP three"),
    ("x86", "x eighty-six"),
    ("5G and 3D", "five G and three D"),
    ("v2.0", "v two point zero"),
]

UNREADABLE = [
    ("Hello 😀 world!", "Hello world!"),
    ("I ❤️ NY 👍🏽", "I NY"),
    ("你好 hello, Привет world. مرحبا", "hello, world."),
    ("zero\u200bwidth and soft\u00adhyphen", "zerowidth and softhyphen"),
    ("bell\x07 and\x00 nul", "bell and nul"),
    ("tab\tand\nnewline\r\n", "tab and newline"),
    ("\ufeffBOM first", "BOM first"),
    ("Ünïcödé café naïve résumé", "Ünïcödé café naïve résumé"),
    ("𝐁𝐨𝐥𝐝 and ｆｕｌｌｗｉｄｔｈ", "Bold and fullwidth"),
    ("Ελληνικά words", "words"),
    ("“Quoted,” she said. «Hi»", "“Quoted,” she said. “Hi”"),
    ("Wait... what?! Really?? Yes!!!", "Wait… what?! Really? Yes!"),
    ("🎉🎉🎉", ""),
    ("", ""),
    ("   ", ""),
]

ALL = (
    CARDINALS
    + ORDINALS
    + YEARS
    + DATES
    + TIMES
    + CURRENCY
    + PERCENT
    + ABBREVIATIONS
    + UNITS
    + SYMBOLS
    + RANGES_FRACTIONS
    + DIGIT_STRINGS
    + LETTERS_AND_DIGITS
    + UNREADABLE
)


def _table(cases: list[tuple[str, str]]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize(("text", "expected"), cases, ids=[c[0][:40] for c in cases])


@_table(CARDINALS)
def test_cardinals_decimals_negatives(text: str, expected: str) -> None:
    assert normalize(text) == expected


@_table(ORDINALS)
def test_ordinals(text: str, expected: str) -> None:
    assert normalize(text) == expected


@_table(YEARS)
def test_years_in_year_context(text: str, expected: str) -> None:
    assert normalize(text) == expected


@_table(DATES)
def test_dates(text: str, expected: str) -> None:
    assert normalize(text) == expected


@_table(TIMES)
def test_times(text: str, expected: str) -> None:
    assert normalize(text) == expected


@_table(CURRENCY)
def test_currency(text: str, expected: str) -> None:
    assert normalize(text) == expected


@_table(PERCENT)
def test_percentages(text: str, expected: str) -> None:
    assert normalize(text) == expected


@_table(ABBREVIATIONS)
def test_abbreviations(text: str, expected: str) -> None:
    assert normalize(text) == expected


@_table(UNITS)
def test_units(text: str, expected: str) -> None:
    assert normalize(text) == expected


@_table(SYMBOLS)
def test_symbols(text: str, expected: str) -> None:
    assert normalize(text) == expected


@_table(RANGES_FRACTIONS)
def test_ranges_and_fractions(text: str, expected: str) -> None:
    assert normalize(text) == expected


@_table(DIGIT_STRINGS)
def test_phone_like_strings_are_read_as_digits(text: str, expected: str) -> None:
    assert normalize(text) == expected


@_table(LETTERS_AND_DIGITS)
def test_letter_digit_mixes(text: str, expected: str) -> None:
    assert normalize(text) == expected


@_table(UNREADABLE)
def test_unreadable_characters_are_dropped_but_words_and_punctuation_kept(text: str, expected: str) -> None:
    assert normalize(text) == expected


@_table(ALL)
def test_idempotent(text: str, expected: str) -> None:
    assert normalize(expected) == expected


_DIGIT_GROUP = re.compile(r"\d+")


@pytest.mark.parametrize("text", [t for t, _ in ALL if _DIGIT_GROUP.search(t)], ids=lambda t: t[:40])
def test_no_number_is_dropped(text: str) -> None:
    """Every digit group becomes words: no digit is left, and there are at least as many number
    words as digit groups (a digit group never vanishes into nothing)."""
    out = normalize(text)
    assert not re.search(r"[0-9]", out)
    words = set(re.findall(r"[a-z]+", out.lower()))
    number_words = {
        "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
        "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
        "hundred", "thousand", "million", "billion", "point", "half", "first", "second", "third",
        "fourth", "fifth", "eighth", "twelfth", "eleventh", "fifteenth", "hundreds", "nineties",
        "eighties", "quarters", "thirds", "thousandth", "thirteenth", "twentieth",
    }  # fmt: skip
    assert words & number_words, out


def test_sentence_with_numbers_keeps_every_word() -> None:
    text = "On 3/15/2024 at 7:30 pm, Dr. Smith paid $9.99 for 2 kg of apples (12.5% off)."
    assert normalize(text) == (
        "On March fifteenth, twenty twenty-four at seven thirty PM, Doctor Smith paid nine dollars "
        "and ninety-nine cents for two kilograms of apples (twelve point five percent off)."
    )


def test_public_api_is_pinned() -> None:
    import parley_engine.text as text

    assert sorted(text.__all__) == [
        "EspeakPhonemizer",
        "MisakiG2P",
        "SpokenChar",
        "TextChunk",
        "char_name",
        "key_text",
        "normalize",
        "plan_chunks",
        "punctuate",
        "shared_misaki",
        "spell",
        "split_sentences",
        "spoken_char",
    ]


def test_output_is_one_line_with_single_spaces() -> None:
    out = normalize("First line.\n\nSecond   line,\twith tabs.  ")
    assert out == "First line. Second line, with tabs."


def test_fast_enough_for_a_typical_sentence() -> None:
    sentence = "Dr. Smith paid $9.99 on 3/15/2024 at 7:30 pm, and it was 12.5% cheaper than in 1999."
    for _ in range(20):
        normalize(sentence)
    times = []
    for _ in range(200):
        t0 = time.perf_counter()
        normalize(sentence)
        times.append(time.perf_counter() - t0)
    assert statistics.median(times) < 2e-3  # measured ~0.3 ms; the budget is "well under 1 ms"
