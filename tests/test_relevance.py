"""The relevance score's parts on their own: the curves, noisy-OR with weights, and the words check that
tells letter soup from words (the real MiniLM vocabulary). End to end: test_hybrid.py."""

from __future__ import annotations

import numpy as np
import pytest

from framefind.models.minilm import MiniLM
from framefind.search.relevance import CUTOFF, FLOOR, VisualContext, combine, phrase_probability

WEIGHTS = {"visual": 1.0, "speech": 1.0, "text": 1.0}


def test_one_signal_alone_gives_its_own_probability_and_more_signals_only_add():
    assert combine({"visual": 0.3}, WEIGHTS) == pytest.approx(0.3)
    both = combine({"visual": 0.3, "speech": 0.5}, WEIGHTS)
    assert both == pytest.approx(1 - 0.7 * 0.5) and both > 0.5  # noisy-OR: either may be right
    assert combine({"visual": 0.3, "speech": 0.0}, WEIGHTS) == pytest.approx(0.3)  # no evidence takes nothing away


def test_weights_scale_what_a_signal_counts_and_zero_ignores_it():
    heavy_speech = {"visual": 1.0, "speech": 2.0, "text": 1.0}
    assert combine({"speech": 0.4}, heavy_speech) == pytest.approx(0.4)  # the heaviest counts in full
    assert combine({"visual": 0.4}, heavy_speech) < 0.4  # a lighter signal counts less
    assert combine({"visual": 0.4, "speech": 0.2}, {"visual": 0.0, "speech": 1.0, "text": 1.0}) == pytest.approx(0.2)
    assert combine({"visual": 0.4}, {"visual": 0.0, "speech": 0.0, "text": 0.0}) == 0.0


def test_a_phrase_scores_by_its_meaning():
    cosines = np.linspace(0.0, 1.0, 11)
    p = [phrase_probability(c) for c in cosines]
    assert np.all(np.diff(p) > 0) and p[0] < FLOOR and p[-1] > 0.99  # unrelated: nothing; the very words: sure


def test_a_picture_score_rises_with_its_cosine_and_stays_a_probability():
    cosines = np.linspace(-0.2, 1.0, 25)
    for context in (VisualContext(True, attainable=0.6), VisualContext(False, reference=0.5, median=0.3),
                    VisualContext(False), VisualContext(True, reference=0.4, median=0.2), VisualContext(True)):
        p = context.probability(cosines)
        assert np.all((p >= 0) & (p <= 1)) and np.all(np.diff(p) > 0), context


def test_words_that_name_nothing_score_nothing_whatever_the_cosine():
    soup = VisualContext(True, attainable=0.3, names=False)
    assert not soup.probability(np.array([0.3, 0.9])).any()
    assert VisualContext(True, attainable=0.3).probability(np.array([0.3]))[0] > 0  # the same words, known
    assert 0 < FLOOR < CUTOFF < 1


@pytest.mark.parametrize("words", ["zzqx flurble", "blorp snarfle quux", "xkcdv wqpz", "mmrgl fthagn",
                                   "lorem ipsum dolor"])
def test_letter_soup_is_no_word_the_text_model_knows(words):
    assert not MiniLM().knows_a_word(words)


@pytest.mark.parametrize("words", ["a dog", "a snowboarder", "a giraffe", "Kilimanjaro sunrise", "zzqx dog",
                                   "kangaroos"])
def test_real_words_are_known_even_when_split_into_pieces(words):
    assert MiniLM().knows_a_word(words)
