"""Word tables shared by the normaliser and the splitter (plain Python data: nothing is read at import)."""

from __future__ import annotations

from typing import Final


def _w(words: str) -> frozenset[str]:
    return frozenset(words.split())


MONTHS: Final[tuple[str, ...]] = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
#: Written month forms (full names and abbreviations, without the period) -> month number.
MONTH_FORMS: Final[dict[str, int]] = {
    **{m: i + 1 for i, m in enumerate(MONTHS)},
    **{m[:3]: i + 1 for i, m in enumerate(MONTHS)},
    "Sept": 9,
}

WEEKDAYS: Final[dict[str, str]] = {
    "Mon": "Monday",
    "Tue": "Tuesday",
    "Tues": "Tuesday",
    "Wed": "Wednesday",
    "Thu": "Thursday",
    "Thur": "Thursday",
    "Thurs": "Thursday",
    "Fri": "Friday",
    "Sat": "Saturday",
    "Sun": "Sunday",
}

#: Titles read before a capitalised name ("Dr. Smith", "Mr Jones"). "St" and "Dr" are special-cased
#: (Saint/Street, Doctor/Drive).
TITLES: Final[dict[str, str]] = {
    "Mr": "Mister",
    "Mrs": "Missus",
    "Ms": "Miz",
    "Mx": "Mix",
    "Dr": "Doctor",
    "Prof": "Professor",
    "St": "Saint",
    "Mt": "Mount",
    "Ft": "Fort",
    "Gen": "General",
    "Gov": "Governor",
    "Sen": "Senator",
    "Rep": "Representative",
    "Capt": "Captain",
    "Lt": "Lieutenant",
    "Col": "Colonel",
    "Sgt": "Sergeant",
    "Cpl": "Corporal",
    "Maj": "Major",
    "Adm": "Admiral",
    "Cmdr": "Commander",
    "Rev": "Reverend",
    "Hon": "Honorable",
    "Pres": "President",
    "Fr": "Father",
    "Supt": "Superintendent",
}
#: Titles that are also common words or names without their period: expanded only with the period.
TITLES_NEED_PERIOD: Final[frozenset[str]] = frozenset(
    {"Gen", "Gov", "Sen", "Rep", "Col", "Maj", "Adm", "Hon", "Pres", "Fr", "Supt", "Rev"}
)

#: Abbreviations written with a period that never end a sentence on their own: the next word
#: belongs to the same sentence even when capitalised ("e.g. Paris", "vs. Chicago").
NON_TERMINAL: Final[dict[str, str]] = {
    "e.g.": "for example",
    "i.e.": "that is",
    "vs.": "versus",
    "cf.": "compare",
    "viz.": "namely",
    "approx.": "approximately",
    "Approx.": "Approximately",
    "ca.": "circa",
    "Fig.": "Figure",
    "fig.": "figure",
    "Figs.": "Figures",
    "figs.": "figures",
    "Vol.": "Volume",
    "vol.": "volume",
    "Ch.": "Chapter",
    "ch.": "chapter",
    "Sec.": "Section",
    "Eq.": "Equation",
    "eq.": "equation",
    "Ref.": "Reference",
    "ref.": "reference",
    "Dept.": "Department",
    "Univ.": "University",
    "Govt.": "Government",
    "Assn.": "Association",
    "Apt.": "Apartment",
    "Ste.": "Suite",
    "Bldg.": "Building",
    "Mon.": "Monday",
    "Tue.": "Tuesday",
    "Tues.": "Tuesday",
    "Wed.": "Wednesday",
    "Thu.": "Thursday",
    "Thur.": "Thursday",
    "Thurs.": "Thursday",
    "Fri.": "Friday",
    "v.": "versus",
}
#: Abbreviations that are read only before a number ("No. 5", "p. 12", "c. 1500"): elsewhere they
#: are ordinary words ("I said no.").
BEFORE_NUMBER: Final[dict[str, str]] = {
    "No.": "number",
    "no.": "number",
    "Nos.": "numbers",
    "nos.": "numbers",
    "p.": "page",
    "pp.": "pages",
    "c.": "circa",
    "ext.": "extension",
    "Ext.": "extension",
    "Art.": "Article",
    "art.": "article",
}
#: Abbreviations that can also end a sentence ("... and so on, etc. The next one"): the splitter
#: treats a following capitalised sentence starter as a new sentence.
TERMINAL: Final[dict[str, str]] = {
    "etc.": "et cetera",
    "Jr.": "Junior",
    "Sr.": "Senior",
    "Inc.": "Incorporated",
    "Ltd.": "Limited",
    "Corp.": "Corporation",
    "Co.": "Company",
    "Bros.": "Brothers",
    "Ave.": "Avenue",
    "Blvd.": "Boulevard",
    "Rd.": "Road",
    "Ln.": "Lane",
    "Hwy.": "Highway",
    "Pkwy.": "Parkway",
    "Sq.": "Square",
    "misc.": "miscellaneous",
    "max.": "maximum",
    "min.": "minimum",
    "esp.": "especially",
    "dept.": "department",
    "a.m.": "AM",
    "p.m.": "PM",
    "A.M.": "AM",
    "P.M.": "PM",
    "Jan.": "January",
    "Feb.": "February",
    "Mar.": "March",
    "Apr.": "April",
    "Jun.": "June",
    "Jul.": "July",
    "Aug.": "August",
    "Sep.": "September",
    "Sept.": "September",
    "Oct.": "October",
    "Nov.": "November",
    "Dec.": "December",
    "Sat.": "Saturday",
    "Sun.": "Sunday",
}
#: Same without the period (always unambiguous).
NO_PERIOD: Final[dict[str, str]] = {
    "etc": "et cetera",
    "vs": "versus",
    "approx": "approximately",
    "w/": "with",
    "w/o": "without",
}

#: Words after which a capitalised word is very likely a new sentence (the splitter's cue after an
#: ambiguous abbreviation such as "etc." or "U.S.").
SENTENCE_STARTERS: Final[frozenset[str]] = _w(
    """A An The This That These Those It Its It's I I'm I've I'd I'll We We're They They're He She
    His Her Our Their My Your You You're There Here But And So Or Yet Then Now However Also Still In On
    At For If When While After Before Since Because Although Though As Meanwhile Finally First Next
    Today Tomorrow Yesterday Yes No Please Thanks Thank Let Let's What Why How Who Where Which Is Are
    Was Were Do Does Did Can Could Will Would Should Must May Might Many Most Some All Each Every
    One Two Three Not"""
)

#: Where the first chunk may be cut when there is no clause punctuation: before these words.
CONJUNCTIONS: Final[frozenset[str]] = _w(
    """and but or nor so yet because although though while whereas when whenever where wherever which
    who whom whose unless until since after before if whether than"""
)
PREPOSITIONS: Final[frozenset[str]] = _w(
    """in on at for with from by about into onto over under between through during without within
    across against among around toward towards upon like along behind beyond near despite except
    inside outside throughout via"""
)

#: Units read after a number: symbol -> (singular, plural). Case matters ("mb" is not "MB").
UNITS: Final[dict[str, tuple[str, str]]] = {
    "mm": ("millimeter", "millimeters"),
    "cm": ("centimeter", "centimeters"),
    "m": ("meter", "meters"),
    "km": ("kilometer", "kilometers"),
    "nm": ("nanometer", "nanometers"),
    "µm": ("micrometer", "micrometers"),
    "μm": ("micrometer", "micrometers"),
    "ft": ("foot", "feet"),
    "yd": ("yard", "yards"),
    "yds": ("yard", "yards"),
    "mi": ("mile", "miles"),
    "mg": ("milligram", "milligrams"),
    "µg": ("microgram", "micrograms"),
    "μg": ("microgram", "micrograms"),
    "mcg": ("microgram", "micrograms"),
    "g": ("gram", "grams"),
    "kg": ("kilogram", "kilograms"),
    "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
    "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"),
    "cl": ("centiliter", "centiliters"),
    "l": ("liter", "liters"),
    "L": ("liter", "liters"),
    "gal": ("gallon", "gallons"),
    "tsp": ("teaspoon", "teaspoons"),
    "tbsp": ("tablespoon", "tablespoons"),
    "mph": ("mile per hour", "miles per hour"),
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "kmh": ("kilometer per hour", "kilometers per hour"),
    "m/s": ("meter per second", "meters per second"),
    "ft/s": ("foot per second", "feet per second"),
    "m²": ("square meter", "square meters"),
    "km²": ("square kilometer", "square kilometers"),
    "cm²": ("square centimeter", "square centimeters"),
    "ft²": ("square foot", "square feet"),
    "sq ft": ("square foot", "square feet"),
    "sq mi": ("square mile", "square miles"),
    "m³": ("cubic meter", "cubic meters"),
    "cm³": ("cubic centimeter", "cubic centimeters"),
    "cc": ("cc", "cc"),
    "ms": ("millisecond", "milliseconds"),
    "µs": ("microsecond", "microseconds"),
    "μs": ("microsecond", "microseconds"),
    "ns": ("nanosecond", "nanoseconds"),
    "sec": ("second", "seconds"),
    "secs": ("second", "seconds"),
    "min": ("minute", "minutes"),
    "mins": ("minute", "minutes"),
    "hr": ("hour", "hours"),
    "hrs": ("hour", "hours"),
    "yr": ("year", "years"),
    "yrs": ("year", "years"),
    "Hz": ("hertz", "hertz"),
    "kHz": ("kilohertz", "kilohertz"),
    "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"),
    "KB": ("kilobyte", "kilobytes"),
    "kB": ("kilobyte", "kilobytes"),
    "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"),
    "TB": ("terabyte", "terabytes"),
    "PB": ("petabyte", "petabytes"),
    "Kb": ("kilobit", "kilobits"),
    "Mb": ("megabit", "megabits"),
    "Gb": ("gigabit", "gigabits"),
    "kbps": ("kilobit per second", "kilobits per second"),
    "Mbps": ("megabit per second", "megabits per second"),
    "Gbps": ("gigabit per second", "gigabits per second"),
    "W": ("watt", "watts"),
    "kW": ("kilowatt", "kilowatts"),
    "MW": ("megawatt", "megawatts"),
    "GW": ("gigawatt", "gigawatts"),
    "kWh": ("kilowatt hour", "kilowatt hours"),
    "V": ("volt", "volts"),
    "mV": ("millivolt", "millivolts"),
    "kV": ("kilovolt", "kilovolts"),
    "mA": ("milliamp", "milliamps"),
    "mAh": ("milliamp hour", "milliamp hours"),
    "Ω": ("ohm", "ohms"),
    "dB": ("decibel", "decibels"),
    "kcal": ("kilocalorie", "kilocalories"),
    "cal": ("calorie", "calories"),
    "psi": ("psi", "psi"),
    "rpm": ("rpm", "rpm"),
    "px": ("pixel", "pixels"),
    "bpm": ("beat per minute", "beats per minute"),
    "fps": ("frame per second", "frames per second"),
}
#: Units that need a space before them to count as units ("5 s" = seconds, but "5s" = fives).
#: ("in" for inches is not here: "1 in 3" is far more common; "5 ft 10 in" and 5'10" are handled.)
UNITS_SPACED: Final[dict[str, tuple[str, str]]] = {
    "s": ("second", "seconds"),
    "h": ("hour", "hours"),
}

#: Currency written before the amount -> (singular, plural, minor singular, minor plural).
CURRENCY: Final[dict[str, tuple[str, str, str, str]]] = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "US$": ("US dollar", "US dollars", "cent", "cents"),
    "A$": ("Australian dollar", "Australian dollars", "cent", "cents"),
    "C$": ("Canadian dollar", "Canadian dollars", "cent", "cents"),
    "NZ$": ("New Zealand dollar", "New Zealand dollars", "cent", "cents"),
    "HK$": ("Hong Kong dollar", "Hong Kong dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", "", ""),
    "₹": ("rupee", "rupees", "paisa", "paise"),
    "₩": ("won", "won", "", ""),
    "₽": ("ruble", "rubles", "kopek", "kopeks"),
    "₿": ("bitcoin", "bitcoins", "", ""),
    "₪": ("shekel", "shekels", "agora", "agorot"),
    "₺": ("lira", "lira", "kurus", "kurus"),
    "₴": ("hryvnia", "hryvnias", "kopiyka", "kopiyky"),
    "₦": ("naira", "naira", "kobo", "kobo"),
    "₱": ("peso", "pesos", "centavo", "centavos"),
    "USD": ("US dollar", "US dollars", "cent", "cents"),
    "EUR": ("euro", "euros", "cent", "cents"),
    "GBP": ("pound", "pounds", "penny", "pence"),
    "JPY": ("yen", "yen", "", ""),
    "CAD": ("Canadian dollar", "Canadian dollars", "cent", "cents"),
    "AUD": ("Australian dollar", "Australian dollars", "cent", "cents"),
    "CHF": ("Swiss franc", "Swiss francs", "centime", "centimes"),
    "CNY": ("yuan", "yuan", "fen", "fen"),
    "INR": ("rupee", "rupees", "paisa", "paise"),
    "Rs": ("rupee", "rupees", "paisa", "paise"),
    "Rs.": ("rupee", "rupees", "paisa", "paise"),
}
#: Amount suffixes: "$3.5M", "€2bn", "$10k", "£5 million".
MAGNITUDES: Final[dict[str, str]] = {
    "k": "thousand",
    "K": "thousand",
    "m": "million",
    "M": "million",
    "mn": "million",
    "MM": "million",
    "b": "billion",
    "B": "billion",
    "bn": "billion",
    "t": "trillion",
    "T": "trillion",
    "tn": "trillion",
    "hundred": "hundred",
    "thousand": "thousand",
    "million": "million",
    "billion": "billion",
    "trillion": "trillion",
}

#: Words before a bare four-digit number that make it a year ("in 1999", "since 2005").
YEAR_CUES: Final[frozenset[str]] = _w(
    """in since from until till through thru by before after during circa c. ca. year years of early between
    mid late summer winter spring fall autumn class vintage born died founded established est.
    released published built copyright ©"""
)
#: Words before a bare four-digit number that make it a count ("over 1500", "about 2000").
QUANTITY_CUES: Final[frozenset[str]] = _w(
    """about over under nearly almost approximately roughly around than some total exactly only just
    least most additional another extra top all these those every each per"""
)
#: Plural nouns without a final s ("1500 people"); after a number they make it a count.
IRREGULAR_PLURALS: Final[frozenset[str]] = _w(
    """people men women children feet teeth mice geese sheep fish deer staff cattle personnel"""
)
#: Lowercase words ending in s that are not plural nouns ("1999 was", "2024 has").
NOT_PLURALS: Final[frozenset[str]] = _w(
    """was is has does goes says sees gets makes looks seems marks comes shows means remains begins
    starts ends plays becomes takes gives feels brings keeps needs runs sits stands turns works lets
    puts sets puts vs as its this his hers ours yours theirs us plus thus yes always perhaps towards
    afterwards besides whereas unless"""
)
#: Words after a number that make it a year ("1200 BC").
YEAR_SUFFIXES: Final[frozenset[str]] = frozenset({"BC", "BCE", "AD", "CE", "B.C.", "A.D.", "B.C.E.", "C.E."})

#: Words before a Roman numeral read as a cardinal ("World War II" -> "World War two").
ROMAN_CARDINAL_CUES: Final[frozenset[str]] = _w(
    """War Chapter Part Volume Vol. Book Act Scene Section Phase Episode Round Stage Level Title Article
    Appendix Bowl Type Class Mark Grade Tier Season Unit Psalm Canto Apollo Gemini"""
)
#: Names before a Roman numeral read as an ordinal ("Henry VIII" -> "Henry the eighth").
ROMAN_ORDINAL_CUES: Final[frozenset[str]] = _w(
    """King Queen Pope Emperor Empress Tsar Czar Prince Princess Duke Henry Edward George Louis Charles
    Richard James William Elizabeth Mary John Paul Pius Leo Benedict Gregory Innocent Clement Urban
    Boniface Alexander Frederick Napoleon Philip Ramesses Ptolemy Constantine Peter Catherine Ivan
    Nicholas Alfonso Ferdinand Victor Umberto Gustav Olaf Harald Haakon Christian Frederik Carlos
    Felipe Juan Sobhuza Rama Selim Mehmed Murad Otto Wilhelm Ludwig Sancho Baldwin Amenhotep Thutmose
    Darius Xerxes Antiochus Cyrus Sigismund Casimir Stanislaus Malcolm Robert David Edmund Harold
    Stephen Anne Victoria Jr Sr"""
)

#: Greek letters used as symbols ("2π", "α = 0.05"), read by name when they stand alone.
GREEK_NAMES: Final[dict[str, str]] = {
    "ALPHA": "alpha",
    "BETA": "beta",
    "GAMMA": "gamma",
    "DELTA": "delta",
    "EPSILON": "epsilon",
    "ZETA": "zeta",
    "ETA": "eta",
    "THETA": "theta",
    "IOTA": "iota",
    "KAPPA": "kappa",
    "LAMDA": "lambda",
    "MU": "mu",
    "NU": "nu",
    "XI": "xi",
    "OMICRON": "omicron",
    "PI": "pi",
    "RHO": "rho",
    "SIGMA": "sigma",
    "FINAL SIGMA": "sigma",
    "TAU": "tau",
    "UPSILON": "upsilon",
    "PHI": "phi",
    "CHI": "chi",
    "PSI": "psi",
    "OMEGA": "omega",
}

#: Vulgar fraction characters.
VULGAR_FRACTIONS: Final[dict[str, tuple[int, int]]] = {
    "½": (1, 2),
    "⅓": (1, 3),
    "⅔": (2, 3),
    "¼": (1, 4),
    "¾": (3, 4),
    "⅕": (1, 5),
    "⅖": (2, 5),
    "⅗": (3, 5),
    "⅘": (4, 5),
    "⅙": (1, 6),
    "⅚": (5, 6),
    "⅛": (1, 8),
    "⅜": (3, 8),
    "⅝": (5, 8),
    "⅞": (7, 8),
    "⅐": (1, 7),
    "⅑": (1, 9),
    "⅒": (1, 10),
}

#: Symbols read as words wherever they stand.
SYMBOL_WORDS: Final[dict[str, str]] = {
    "&": "and",
    "@": "at",
    "=": "equals",
    "+": "plus",
    "±": "plus or minus",
    "×": "times",
    "÷": "divided by",
    "≈": "approximately",
    "≠": "is not equal to",
    "≤": "is less than or equal to",
    "≥": "is greater than or equal to",
    "%": "percent",
    "‰": "per mille",
    "°": "degrees",
    "§": "section",
    "№": "number",
    "∞": "infinity",
    "√": "square root of",
    "π": "pi",
}
