"""The black-box attacks text-wordswap and text-charswap on the tiny MR model: they query the
model only through predict (no gradient is ever computed), count every query, lower accuracy,
and make only the changes they are defined to make."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("transformers", reason="the text plugin needs transformers (pip install art-ext[text])")

from art.attacks.attack import EvasionAttack
from art_ext_plugins.text.attacks.charswap import QWERTY_NEIGHBOURS, CharSwap, char_edits
from art_ext_plugins.text.attacks.constraints import Stopwords
from art_ext_plugins.text.attacks.wordswap import WordSwap
from art_ext_plugins.text.model.vocabulary import word_vocabulary
from text_helpers import accuracy

import art_ext


class _Spy:
    """Counts the sentences ``predict`` sees and checks that no forward pass builds a graph."""

    def __init__(self, clf):
        self.clf, self.sentences, self.grad_calls = clf, 0, 0
        self._predict, self._forward = clf.predict, clf.model.forward

    def __enter__(self):
        def predict(x, *args, **kwargs):
            self.sentences += len(x)
            return self._predict(x, *args, **kwargs)

        def forward(*args, **kwargs):
            self.grad_calls += torch.is_grad_enabled()
            return self._forward(*args, **kwargs)

        self.clf.predict, self.clf.model.forward = predict, forward
        return self

    def __exit__(self, *exc):
        self.clf.predict, self.clf.model.forward = self._predict, self._forward


@pytest.mark.parametrize("cls", [WordSwap, CharSwap])
def test_black_box_attacks_use_predict_only_and_count_queries(cls, mr_classifier, mr_split):
    texts, labels = mr_split[2][:60], mr_split[3][:60]
    clean = accuracy(mr_classifier, texts, labels)
    attack = cls(mr_classifier, constraints=[Stopwords()], n_candidates=15)
    with _Spy(mr_classifier) as spy:
        r = attack.attack_text(texts, labels)
    assert spy.grad_calls == 0, "a black-box attack computed gradients"
    # every sentence the model saw is a counted query: the clean prediction of each sentence, the
    # search's predictions, and the final check of each attacked sentence's returned text
    attacked = sum(s != "skipped" for s in r.status)
    assert sum(r.queries) == spy.sentences - len(texts) + attacked
    after = accuracy(mr_classifier, r.adversarial_texts, labels)
    print(f"{cls.__name__}: clean {clean:.3f}, after {after:.3f}, success {r.success_rate:.3f}, "
          f"queries/sentence {r.summary()['queries_per_sentence']:.1f}")
    assert after < clean - 0.1
    assert r.success_rate > 0.2
    for i, ok in enumerate(r.success):
        assert r.words_changed[i] <= max(1, int(0.2 * r.n_words[i] + 1e-9))
        if ok:
            assert r.adversarial_pred[i] != labels[i] and r.status[i] == "success"
            assert r.queries[i] > 2


def test_wordswap_substitutes_are_vocabulary_neighbours(mr_classifier, mr_split):
    texts, labels = mr_split[2][:30], mr_split[3][:30]
    r = WordSwap(mr_classifier, n_candidates=5).attack_text(texts, labels)
    tok = mr_classifier.tokenizer
    vocab = word_vocabulary(mr_classifier)
    words = [vocab.surface(int(i)) for i in vocab.spaced]
    matrix = torch.nn.functional.normalize(mr_classifier.embedding_matrix[vocab.spaced], dim=1)
    for swaps in r.swaps:
        for s in swaps:
            new = tok(s.new, add_special_tokens=False)["input_ids"]
            assert len(new) == 1 and s.new != s.old
            old = tok(s.old, add_special_tokens=False)["input_ids"]
            sims = matrix @ torch.nn.functional.normalize(mr_classifier.embedding_matrix[old].mean(0), dim=0)
            sims[torch.as_tensor([w == s.old for w in words])] = -2
            rank = int((sims > sims[words.index(s.new)] + 1e-6).sum())
            assert rank < 5, f"{s.old} -> {s.new} is not among the 5 nearest whole words (rank {rank})"
    assert sum(map(len, r.swaps)) > 0
    with pytest.raises(ValueError, match="importance"):
        WordSwap(mr_classifier, importance="gradient")
    with pytest.raises(ValueError, match="n_candidates"):
        WordSwap(mr_classifier, n_candidates=0)


def test_char_edits_are_single_inner_edits():
    edits = char_edits("movie", rng=np.random.default_rng(0))
    assert "mvoie" in edits and "mvie" in edits and "movie" not in edits and len(set(edits)) == len(edits)
    for e in edits:
        assert e[0] == "m" and e[-1] == "e" and abs(len(e) - 5) <= 1
    assert QWERTY_NEIGHBOURS["o"] == "iklp" and QWERTY_NEIGHBOURS["a"] == "qswxz"
    assert char_edits("movie", ("keyboard",)) == [f"m{c}vie" for c in QWERTY_NEIGHBOURS["o"]] + \
        [f"mo{c}ie" for c in QWERTY_NEIGHBOURS["v"]] + [f"mov{c}e" for c in QWERTY_NEIGHBOURS["i"]]


def test_charswap_changes_characters_only(mr_classifier, mr_split):
    texts, labels = mr_split[2][:30], mr_split[3][:30]
    r = CharSwap(mr_classifier, operations=("swap", "delete"), min_word_length=5, seed=1, n_candidates=8).attack_text(texts, labels)
    for orig, adv, swaps in zip(r.original_texts, r.adversarial_texts, r.swaps):
        for s in swaps:
            assert s.kind == "char" and len(s.old) >= 5 and s.new[0] == s.old[0] and s.new[-1] == s.old[-1]
            assert len(s.new) in (len(s.old), len(s.old) - 1)
        assert len(orig.split()) == len(adv.split())
    assert sum(map(len, r.swaps)) > 0
    again = CharSwap(mr_classifier, operations=("swap", "delete"), min_word_length=5, seed=1, n_candidates=8).attack_text(texts, labels)
    assert again.adversarial_texts == r.adversarial_texts  # seeded
    with pytest.raises(ValueError, match="operations"):
        CharSwap(mr_classifier, operations=("flip",))


def test_registered_and_generate_on_strings_and_ids(mr_classifier, mr_split):
    texts, labels = mr_split[2][:10], mr_split[3][:10]
    for name in ("text-wordswap", "text-charswap"):
        attack = art_ext.get_attack(name, mr_classifier)
        assert isinstance(attack, EvasionAttack)
        out = attack.generate(np.array(texts, dtype=object), labels)
        assert out.dtype == object and list(out) == attack.last_results.adversarial_texts
        ids, _ = mr_classifier.encode(texts)
        adv_ids = attack.generate(ids, labels)
        assert adv_ids.shape == ids.shape and adv_ids.dtype == ids.dtype
    targeted = WordSwap(mr_classifier, targeted=True).attack_text(texts, 1 - labels)
    for i, ok in enumerate(targeted.success):
        assert not ok or targeted.adversarial_pred[i] == 1 - labels[i]
    with pytest.raises(ValueError, match="labels"):
        WordSwap(mr_classifier, targeted=True).attack_text(texts)
