"""Numbers in English captions: find them, swap them, make counterfactual captions.

The counting loss of Paiss et al. (2023, "Teaching CLIP to Count to Ten", Sec. 3.2) contrasts
each image with its caption and with a counterfactual caption whose number was swapped for
another one (they draw it from two..ten). This module does that for captions from any source:

- ``find_numbers(caption)``: the counts a caption states, as ``Mention``s (character span, text,
  value, kind "word" | "digit" | "article"). Number words zero..twenty and the tens up to
  ninety, digits 0..99; not counts: "one of", "no one", "one another", "each one" and the like,
  hyphenated compounds ("two-story"), times, decimals, years ("10:30", "3.5", "1990"),
  money / percentages / hashes ("$5", "5%", "#2"), ordinals. With ``articles=True`` an "a" /
  "an" counts as one unless it starts a frame or collective phrase ("a photo of", "a group
  of", "a lot of", "a few", ...).
- ``swap_count(caption, new_count, which=0)``: the caption with mention ``which`` replaced by
  ``new_count`` in the same style (digits stay digits, word case kept), the counted noun
  singularised or pluralised when the count crosses one, and a preceding "a" / "an" fixed.
  A new count of one is written "one" (words) or "1" (digits), or with ``one_word="a"`` as the
  article that fits the next word ("an apple").
- ``counterfactual_caption(caption, rng, counts=range(2, 11))``: one mention (the first whose
  value is in ``counts``, else the first) swapped for a count drawn uniformly from ``counts``
  without the true one; None when the caption states no number.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import numpy as np

_UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen", "twenty")
_TENS = {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
WORD_VALUES = {**{w: i for i, w in enumerate(_UNITS)}, **_TENS}
MAX_COUNT = 99  # the largest count find_numbers reads and number_word writes

# "one" that is not a count: "one of the", "no one", "one another", "each one", ...
_ONE_AFTER = {"of", "another", "day", "time", "side", "way", "point", "hand"}
_ONE_BEFORE = {"no", "each", "every", "any", "some", "someone", "the", "this", "that", "which",
               "little", "only", "last", "another", "big"}
# "a" / "an" that starts a frame or a collective phrase, not one object.
_ARTICLE_FRAMES = {"photo", "picture", "image", "close", "closeup", "close-up", "view", "shot",
                   "drawing", "painting", "group", "couple", "pair", "lot", "lots", "bunch",
                   "few", "number", "set", "pile", "herd", "flock", "row", "line", "dozen",
                   "variety", "collection", "crowd", "stack", "team", "pack", "bowl",
                   "plate", "box", "display", "scene", "little", "bit", "kind", "type"}
# Words between the number and its noun that end the noun phrase when the noun is singular.
_BOUNDARY = {"on", "in", "at", "with", "and", "or", "of", "is", "are", "was", "were", "that",
             "which", "who", "near", "next", "under", "over", "by", "from", "to", "for",
             "behind", "beside", "inside", "outside", "above", "below", "sit", "sits", "stand",
             "stands", "lie", "lies", "has", "have", "while", "against", "along", "into"}
_IRREGULAR = {"man": "men", "woman": "women", "child": "children", "person": "people",
              "mouse": "mice", "foot": "feet", "tooth": "teeth", "goose": "geese", "ox": "oxen",
              "knife": "knives", "leaf": "leaves", "wolf": "wolves", "shelf": "shelves",
              "loaf": "loaves", "calf": "calves", "half": "halves", "life": "lives",
              "wife": "wives", "tomato": "tomatoes", "potato": "potatoes", "hero": "heroes",
              "cactus": "cacti", "die": "dice", "cross": "crosses", "bus": "buses",
              "glass": "glasses", "dress": "dresses"}
_SAME = {"sheep", "fish", "deer", "aircraft", "moose", "bison", "series", "species"}
_SINGULAR = {v: k for k, v in _IRREGULAR.items()}

_TOKEN = re.compile(r"[A-Za-z]+(?:-[A-Za-z0-9]+)*|\d+(?:[.,:]\d+)*|\S")


@dataclasses.dataclass(frozen=True)
class Mention:
    """A count stated in a caption: ``caption[start:end] == text``, ``value`` its number."""

    start: int
    end: int
    text: str
    value: int
    kind: str  # "word" | "digit" | "article"


def _tokens(caption: str):
    return [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(caption)]


def word_value(word: str) -> int | None:
    """The number of an English number word ("seven" -> 7, "twenty-one" -> 21), else None."""
    w = word.lower()
    if w in WORD_VALUES:
        return WORD_VALUES[w]
    tens, sep, unit = w.partition("-")
    tens_value = 20 if tens == "twenty" else _TENS.get(tens)
    if sep and tens_value and unit in WORD_VALUES and 1 <= WORD_VALUES[unit] <= 9:
        return tens_value + WORD_VALUES[unit]
    return None


def number_word(count: int) -> str:
    """The English word of ``count`` in 0..99 (21 -> "twenty-one"); ValueError outside."""
    count = int(count)
    if not 0 <= count <= MAX_COUNT:
        raise ValueError(f"no number word for {count}: counts are written for 0..{MAX_COUNT}")
    if count < len(_UNITS):
        return _UNITS[count]
    tens = {20: "twenty", **{v: k for k, v in _TENS.items()}}[count // 10 * 10]
    return tens if count % 10 == 0 else f"{tens}-{_UNITS[count % 10]}"


def find_numbers(caption: str, *, articles: bool = False) -> list[Mention]:
    """The counts ``caption`` states, in order (see the module docstring for what counts)."""
    if not isinstance(caption, str):
        raise TypeError(f"a caption must be a str, got {type(caption).__name__}")
    toks = _tokens(caption)
    words = [t[2].lower() for t in toks]
    out = []
    for i, (start, end, text) in enumerate(toks):
        prev = words[i - 1] if i else ""
        nxt = words[i + 1] if i + 1 < len(toks) else ""
        if text.isdigit():
            if prev in ("$", "#", "€", "£") or nxt in ("%", "am", "pm", "th", "st", "nd", "rd"):
                continue
            if len(text) > 2 or (i + 1 < len(toks) and toks[i + 1][0] == end
                                 and toks[i + 1][2] not in (",", ".", ";", "!", "?", ")")):
                continue  # years, ids, "2nd", "3D"
            out.append(Mention(start, end, text, int(text), "digit"))
            continue
        value = word_value(text)
        if value is not None and "-" in text and value < 21:
            value = None  # "two-story", "one-way": a compound, not a count
        if value is not None:
            if value == 1 and (nxt in _ONE_AFTER or prev in _ONE_BEFORE):
                continue
            out.append(Mention(start, end, text, value, "word"))
        elif articles and words[i] in ("a", "an") and nxt and nxt not in _ARTICLE_FRAMES \
                and word_value(nxt) is None and nxt.isalpha():
            out.append(Mention(start, end, text, 1, "article"))
    return out


def pluralize(noun: str) -> str:
    """English plural of a singular noun (irregulars, -y -> -ies, -s/-x/-z/-ch/-sh -> -es)."""
    low = noun.lower()
    if low in _SAME:
        return noun
    if low in _IRREGULAR:
        return _match_case(_IRREGULAR[low], noun)
    if re.search(r"[^aeiou]y$", low):
        return noun[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", low):
        return noun + "es"
    return noun + "s"


def singularize(noun: str) -> str:
    """English singular of a plural noun (the inverse of ``pluralize`` on its rules)."""
    low = noun.lower()
    if low in _SAME:
        return noun
    if low in _SINGULAR:
        return _match_case(_SINGULAR[low], noun)
    if low.endswith("ies") and len(low) > 4:
        return noun[:-3] + "y"
    if re.search(r"(ss|x|z|ch|sh)es$", low):
        return noun[:-2]
    if low.endswith("s") and not low.endswith("ss"):
        return noun[:-1]
    return noun


def _match_case(word: str, like: str) -> str:
    if like.isupper() and len(like) > 1:
        return word.upper()
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


def _is_plural(word: str) -> bool:
    low = word.lower()
    return low in _SINGULAR or (
        low.endswith("s") and not low.endswith(("ss", "us", "is")) and len(low) > 2)


def _noun_index(toks, i: int, plural: bool) -> int | None:
    """Index of the counted noun after the number at token ``i`` (up to 4 words on): the first
    plural word for a plural count; for a singular one the word before the phrase ends."""
    last = None
    for j in range(i + 1, min(i + 6, len(toks))):
        word = toks[j][2]
        low = word.lower()
        if not word[:1].isalpha() or low in _BOUNDARY or low.endswith("ing"):
            break
        if plural and _is_plural(word):
            return j
        last = j
    return None if plural else last


def swap_count(caption: str, new_count: int, *, which: int = 0, one_word: str = "one",
               articles: bool = False) -> str:
    """``caption`` with its mention number ``which`` (``find_numbers`` order) replaced by
    ``new_count``; the noun's number follows (see the module docstring). ValueError if the
    caption has no such mention or ``new_count`` is outside 0..99."""
    if one_word not in ("one", "a"):
        raise ValueError(f"one_word must be 'one' or 'a', got {one_word!r}")
    new_count = int(new_count)
    number_word(new_count)  # range check
    mentions = find_numbers(caption, articles=articles)
    if not mentions:
        raise ValueError(f"no number to swap in caption {caption!r}")
    if not -len(mentions) <= which < len(mentions):
        raise ValueError(f"caption {caption!r} has {len(mentions)} number(s), not {which + 1}")
    m = mentions[which]
    toks = _tokens(caption)
    i = next(k for k, t in enumerate(toks) if t[0] == m.start)
    # The new number, in the old one's style.
    if m.kind == "digit":
        new = str(new_count)
    elif new_count == 1 and (one_word == "a" or m.kind == "article"):
        new = "a"
    else:
        new = number_word(new_count)
    if m.kind != "digit":
        new = _match_case(new, m.text)
    edits = [(m.start, m.end, new)]
    # The counted noun follows the new number (singular for one, plural otherwise).
    was_plural, now_plural = m.value != 1, new_count != 1
    if was_plural != now_plural:
        j = _noun_index(toks, i, was_plural)
        if j is not None:
            s, e, word = toks[j]
            edits.append((s, e, pluralize(word) if now_plural else singularize(word)))
    # A preceding article agrees with what now follows it ("an eight-year-old", "a seven").
    if i and toks[i - 1][2].lower() in ("a", "an"):
        s, e, art = toks[i - 1]
        edits.append((s, e, _match_case(_article_for(new), art)))
    out = caption
    for s, e, text in sorted(edits, reverse=True):
        out = out[:s] + text + out[e:]
    if new == "a" or new == "A":  # "a" -> "an" before a vowel sound
        nxt = _tokens(out[m.start + 1:])
        if nxt and _article_for(nxt[0][2]) == "an":
            out = out[:m.start] + _match_case("an", m.text) + out[m.start + 1:]
    return out


def _article_for(word: str) -> str:
    low = word.lower()
    if low.startswith(("eight", "eleven", "eighteen", "eighty")) or low[:1] in "aeio" or \
            (low[:1] == "u" and not low.startswith(("uni", "use", "usu", "uk"))):
        return "an"
    return "a"


def counterfactual_caption(caption: str, rng: np.random.Generator | None = None,
                           counts: Sequence[int] = range(2, 11), *, articles: bool = False,
                           one_word: str = "one") -> str | None:
    """A counterfactual of ``caption`` for the counting loss (Paiss et al., 2023): the first
    mention whose value is in ``counts`` (else the first) swapped for a count drawn uniformly
    from ``counts`` minus the true value. Returns None when the caption states no number.
    ValueError if ``counts`` has no count other than the true one."""
    counts = [int(c) for c in counts]
    if not counts:
        raise ValueError("counts is empty: give the counts to draw counterfactuals from")
    mentions = find_numbers(caption, articles=articles)
    if not mentions:
        return None
    which = next((k for k, m in enumerate(mentions) if m.value in counts), 0)
    others = [c for c in counts if c != mentions[which].value]
    if not others:
        raise ValueError(f"counts={counts} holds no count other than the caption's "
                         f"{mentions[which].value} ({caption!r})")
    rng = np.random.default_rng() if rng is None else rng
    new = others[int(rng.integers(len(others)))]
    return swap_count(caption, new, which=which, one_word=one_word, articles=articles)
