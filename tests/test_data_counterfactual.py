"""Numbers in captions: finding them (words, digits, articles, what is not a count), swapping
them with the noun's number following, and counterfactual captions for the counting loss."""

import numpy as np
import pytest

from jclip.data import counterfactual as cf

# (caption, the counts it states) on real-looking captions.
FOUND = [
    ("a photo of three red circles", [3]),
    ("Two dogs playing frisbee in the park", [2]),
    ("5 apples on a wooden table", [5]),
    ("A photo of a dog on a couch", []),
    ("a man riding a horse on the beach", []),
    ("four children and two puppies sitting on the grass", [4, 2]),
    ("one of the men is holding two umbrellas", [2]),
    ("no one is sitting on the three benches", [3]),
    ("a two-story house with a red door", []),
    ("the clock shows 10:30 above 3 doors", [3]),
    ("a poster from 1990 with 12 faces", [12]),
    ("$5 for 2 coffees", [2]),
    ("a 3.5 inch screen", []),
    ("twenty-one candles on a cake", [21]),
    ("Ten green bottles", [10]),
    ("the 2nd floor has 7 rooms", [7]),
    ("an often quoted line", []),
]


@pytest.mark.parametrize("caption, values", FOUND)
def test_find_numbers_reads_the_counts_a_caption_states(caption, values):
    mentions = cf.find_numbers(caption)
    assert [m.value for m in mentions] == values
    for m in mentions:
        assert caption[m.start:m.end] == m.text


def test_articles_count_as_one_only_when_asked_and_not_in_frames():
    caption = "a photo of a dog next to an apple and a group of cats"
    assert cf.find_numbers(caption) == []
    found = cf.find_numbers(caption, articles=True)
    assert [(m.text, m.value, m.kind) for m in found] == [("a", 1, "article"), ("an", 1, "article")]


SWAPS = [
    ("a photo of three red circles", 5, "a photo of five red circles"),
    ("a photo of three red circles", 1, "a photo of one red circle"),
    ("a photo of one blue cross", 4, "a photo of four blue crosses"),
    ("Two dogs playing in the park", 1, "One dog playing in the park"),
    ("Two dogs playing in the park", 9, "Nine dogs playing in the park"),
    ("5 apples on a table", 1, "1 apple on a table"),
    ("5 apples on a table", 12, "12 apples on a table"),
    ("three puppies and two kittens", 1, "one puppy and two kittens"),
    ("six boxes of strawberries", 1, "one box of strawberries"),
    ("eight women in a boat", 1, "one woman in a boat"),
    ("one child with a balloon", 3, "three children with a balloon"),
    ("a group of seven people standing", 1, "a group of one person standing"),
    ("one cherry on top", 2, "two cherries on top"),
    ("seven sheep in a field", 1, "one sheep in a field"),
    ("FOUR cats", 2, "TWO cats"),
]


@pytest.mark.parametrize("caption, count, expected", SWAPS)
def test_swap_count_keeps_the_style_and_the_noun_agrees(caption, count, expected):
    assert cf.swap_count(caption, count) == expected


def test_swap_to_one_as_an_article_and_article_agreement():
    assert cf.swap_count("three apples on a plate", 1, one_word="a") == "an apple on a plate"
    assert cf.swap_count("two red balls", 1, one_word="a") == "a red ball"
    assert cf.swap_count("a dog and an owl", 2, articles=True, which=1) == "a dog and two owls"
    assert cf.swap_count("a photo of an apple", 3, articles=True) == "a photo of three apples"


def test_swap_picks_the_mention_and_rejects_what_is_not_there():
    caption = "four children and two puppies"
    assert cf.swap_count(caption, 3, which=1) == "four children and three puppies"
    with pytest.raises(ValueError, match="no number to swap"):
        cf.swap_count("a dog on a couch", 2)
    with pytest.raises(ValueError, match="has 2 number"):
        cf.swap_count(caption, 3, which=2)
    with pytest.raises(ValueError, match="no number word for 100"):
        cf.swap_count(caption, 100)


def test_number_words_round_trip():
    for k in range(cf.MAX_COUNT + 1):
        assert cf.word_value(cf.number_word(k)) == k
    assert cf.word_value("Seven") == 7 and cf.word_value("seventh") is None


def test_pluralize_and_singularize_are_inverse_on_common_nouns():
    for noun in ("dog", "box", "cherry", "bus", "church", "leaf", "man", "child", "person",
                 "sheep", "cross", "tomato", "key", "glass"):
        assert cf.singularize(cf.pluralize(noun)) == noun


def test_counterfactual_caption_draws_another_count_uniformly():
    rng = np.random.default_rng(0)
    draws = [cf.find_numbers(cf.counterfactual_caption("two dogs", rng))[0].value
             for _ in range(1800)]
    values, freq = np.unique(draws, return_counts=True)
    assert values.tolist() == [3, 4, 5, 6, 7, 8, 9, 10]  # two..ten without the true two
    assert freq.min() > 150 and freq.max() < 300  # about 225 each
    # The mention inside ``counts`` is the one swapped; none -> None.
    out = cf.counterfactual_caption("100 balloons and 3 kids", rng, counts=(3, 4))
    assert out == "100 balloons and 4 kids"
    assert cf.counterfactual_caption("a dog on a couch", rng) is None
    # Same generator state, same caption.
    a = cf.counterfactual_caption("five cats", np.random.default_rng(3))
    assert a == cf.counterfactual_caption("five cats", np.random.default_rng(3))


def test_counterfactual_caption_needs_another_count():
    with pytest.raises(ValueError, match="no count other than"):
        cf.counterfactual_caption("two dogs", np.random.default_rng(0), counts=(2,))
    with pytest.raises(ValueError, match="counts is empty"):
        cf.counterfactual_caption("two dogs", np.random.default_rng(0), counts=())
    with pytest.raises(TypeError, match="must be a str"):
        cf.find_numbers(None)
