"""tools/measure_trigram_doubt_cut.py: the trigram's suggestions, cut before a doubtful word like the app's."""

from __future__ import annotations

import sys

from tests.support.paths import REPO

sys.path.insert(0, str(REPO / "tools"))

from measure_trigram_doubt_cut import cut_suggestion

from engine.training.trigram import WordTrigramModel

TEXT = ("The cat sat on the mat. The cat sat on the hat. The dog ran to the park, and the dog ran home. "
        "A bird sang in the tree while the cat slept. ") * 3


def test_without_a_bar_it_is_the_trigrams_own_suggestion_and_a_bar_only_shortens_it():
    model = WordTrigramModel.train([TEXT])
    for prefix in ("The cat", "The dog ran", "A bird sang in the", "The c"):
        plain = model.suggest(prefix)
        assert cut_suggestion(model, prefix, 0.0) == plain
        cut = cut_suggestion(model, prefix, 0.9)
        assert plain.startswith(cut) and cut  # the first word always stays
    # "The cat sat on the" is followed by "mat" or "hat": neither clears 90%, so the suggestion is one word.
    assert cut_suggestion(model, "The cat sat on", 0.9) == " the"
