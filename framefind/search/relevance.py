"""One relevance score: the estimated probability that a result is what the query asked for.

Every signal's raw evidence lives on its own scale (a ConSE cosine, a MiniLM cosine, BM25, a rank), and
the same cosine means a good match for one query and a poor one for another. Each signal's evidence is
turned into a probability by a logistic curve over features that mean the same thing in every library
and query, fitted on tune splits only (benchmarks/bench_relevance.py; checked on the caption set's test
split, on Fashion-MNIST and on a hybrid library with speech and on-screen text):

- **visual, word queries** with a vocabulary model (ConSE): the cosine as a share of the query's
  *attainable* score (its nearest class: no picture scores much above it), model-level, so the same
  photo scores the same in every library; words that name nothing (letter soup) score 0;
- **visual, other queries** (an example image, a model without vocabulary): the cosine and its lift
  over this library's own top 5 % for the query (over an even sample: is it an outlier here?);
- **speech and on-screen text**: the MiniLM cosine of the phrase to the query;
- **faces** (an example picture showing a face): the descriptor distance to the query's face (search/face_match.py).

Signals are combined by noisy-OR, ``1 - prod(1 - p_signal)``: a result is what was asked for if any of
its signals says so, so a spoken phrase that matches is never cut because its picture does not, and a
weak keyword hit (low p) cannot lift a result over the cutoff. ``CUTOFF`` and ``FLOOR`` are displayed
scores, the same numbers in every library, signal mix and query.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Curve:
    """A logistic curve: p = 1 / (1 + exp(-(bias + weights . features)))."""

    bias: float
    weights: tuple[float, ...]

    def __call__(self, features: np.ndarray) -> np.ndarray:
        logits = self.bias + np.asarray(features, np.float64) @ np.asarray(self.weights, np.float64)
        return 1.0 / (1.0 + np.exp(-logits))


# Fitted by benchmarks/bench_relevance.py --fit on the tune splits (see docs/benchmarks.md, "One relevance
# score"); each tuple follows the feature order of VisualContext.features (phrases: the cosine alone).
TOP_SHARE = 0.95  # the quantile of the library's scores a result is measured against (lift)
WORDS_VOCABULARY = Curve(-7.1716, (5.1607,))  # share of attainable (vocabulary models)
WORDS_PLAIN = Curve(-4.8575, (3.0365, 2.2796))  # cosine, lift (models without a vocabulary)
WORDS_SMALL = Curve(-6.6608, (8.7953,))  # cosine (a library too small for a distribution)
EXAMPLE = Curve(-3.6773, (4.8623, 2.8003))  # cosine, lift (example images and library items, image space)
EXAMPLE_SMALL = Curve(-1.2609, (3.0477,))  # cosine
PHRASE = Curve(-5.5744, (12.9151,))  # MiniLM cosine of the phrase to the words
# Fitted by benchmarks/bench_faces.py --fit on every pair of labelled real faces (docs/benchmarks.md, "People").
FACE = Curve(10.6158, (-21.6585,))  # dlib descriptor distance between a library face and the query's: the same person
# The cutoff (benchmarks/bench_relevance.py sweep, chosen on the tune splits): a page whose best result scores
# under CUTOFF says "nothing matched"; on a page that matched, results under FLOOR are left out.
CUTOFF, FLOOR = 0.025, 0.01


@dataclass(frozen=True)
class VisualContext:
    """What one query's visual cosines are judged against.

    Word queries with a vocabulary model are judged by the model alone (the same in every library):
    the cosine as a share of the query's attainable score, and nothing at all when the words name
    nothing (``names``: letter soup, Model.names_something). Other queries
    (example images, models without a vocabulary) are judged against this library's own scores for the
    query, over an even sample: the lift over its ``TOP_SHARE`` quantile, in units of the spread
    between that quantile and the median (scale-free, so any model's cosines fit)."""

    words: bool  # a query with words (words space) rather than only pictures (image space)
    attainable: float | None = None
    names: bool = True
    reference: float | None = None  # the cosine at the library's TOP_SHARE quantile (None: too small a library)
    median: float | None = None

    @property
    def vocabulary(self) -> bool:
        return self.words and self.attainable is not None

    def features(self, cosines: np.ndarray) -> np.ndarray:
        """(n, F) features of ``cosines``, in the order of the curve's weights."""
        s = np.asarray(cosines, np.float64)[:, None]
        if self.vocabulary:
            return s / max(self.attainable, 1e-6)
        if self.reference is None or self.median is None:
            return s
        return np.hstack([s, (s - self.reference) / max(self.reference - self.median, 1e-3)])

    @property
    def curve(self) -> Curve:
        if self.vocabulary:
            return WORDS_VOCABULARY
        if self.reference is None:
            return WORDS_SMALL if self.words else EXAMPLE_SMALL
        return WORDS_PLAIN if self.words else EXAMPLE

    def probability(self, cosines: np.ndarray) -> np.ndarray:
        if self.words and not self.names:
            return np.zeros(len(cosines))  # letter soup: its nearest pictures are no evidence of anything
        return self.curve(self.features(cosines))


def phrase_probability(cosine: float) -> float:
    """How likely a spoken or written phrase is what was asked, from its meaning (MiniLM cosine to the
    words). Keyword matching finds candidates; it adds nothing here: on the tune split a phrase holding
    the query's words was no likelier to be right than one as close in meaning without them."""
    return float(PHRASE(np.array([[cosine]]))[0])


def face_probability(distance: float) -> float:
    """How likely a library face is the person of the query's face, from the distance of their descriptors."""
    return float(FACE(np.array([[distance]]))[0])


def combine(probabilities: dict[str, float], weights: dict[str, float]) -> float:
    """Noisy-OR of the signals' probabilities; a signal's weight (relative to the largest weight of the
    query, ``weights``) is its exponent on the chance of not matching: weight 0 ignores it, the largest
    counts in full (all equal, the default: plain noisy-OR, so one signal alone gives its own probability)."""
    top = max(weights.values(), default=0.0)
    if top <= 0:
        return 0.0
    miss = 1.0
    for signal, p in probabilities.items():
        share = weights.get(signal, 0.0) / top
        miss *= (1.0 - min(max(p, 0.0), 1.0)) ** share
    return 1.0 - miss
