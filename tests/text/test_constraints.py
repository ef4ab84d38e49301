"""The shared text constraints: each rule on its own, the presets, and that every attack's
accepted swaps satisfy the constraints it was given and record their values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("transformers", reason="the text plugin needs transformers (pip install art-ext[text])")

from art_ext_plugins.text.attacks.constraints import (
    A2T_SENTENCE_SIM,
    A2T_WORD_COS,
    ENGLISH_STOPWORDS,
    PRESETS,
    MaxWordsChanged,
    PartOfSpeech,
    SentenceSimilarity,
    Stopwords,
    Swap,
    WordEmbeddingCosine,
    check_swaps,
    preset,
    resolve_constraints,
)
from art_ext_plugins.text.attacks.hotflip import HotFlip
from art_ext_plugins.text.attacks.wordswap import WordSwap

import art_ext


def _swap(original: str, index: int, new: str, n_changed: int = 1, kind: str = "word") -> Swap:
    words = tuple(original.split())
    after = (*words[:index], new, *words[index + 1 :])
    return Swap(original, " ".join(after), words, after, index, len(words), n_changed, kind)


def test_max_words_changed_rounding_and_caps():
    a2t = MaxWordsChanged(max_fraction=0.1, min_words=2)  # TextAttack's MaxModificationRate(0.1, 2)
    assert [a2t.budget(n) for n in (5, 20, 21, 35)] == [2, 2, 3, 4]
    assert MaxWordsChanged(max_fraction=0.2, rounding="floor").budget(9) == 1
    assert MaxWordsChanged(max_words=2).budget(50) == 2
    ok = a2t.check([_swap("a b c d e", 1, "x", 2), _swap("a b c d e", 1, "x", 3)])
    assert ok == [(True, 2), (False, 3)]
    with pytest.raises(ValueError, match="max_fraction or max_words"):
        MaxWordsChanged()
    with pytest.raises(ValueError, match="max_fraction"):
        MaxWordsChanged(max_fraction=1.5)


def test_stopwords_and_word_embedding_cosine(mr_trained):
    stop = Stopwords()
    assert not stop.allows_word("The") and stop.allows_word("film") and "the" in ENGLISH_STOPWORDS
    assert Stopwords(["film"]).check([_swap("a film", 1, "movie")]) == [(False, False)]
    cos = WordEmbeddingCosine(0.5)
    with pytest.raises(ValueError, match="no encoder"):
        cos.check([_swap("a good film", 1, "bad")])
    cos.bind(mr_trained)  # the attacked model's input embeddings
    matrix = mr_trained.embedding_matrix
    ids = mr_trained.tokenizer(["good", "bad"], add_special_tokens=False)["input_ids"]
    expected = float(torch.nn.functional.cosine_similarity(matrix[ids[0]].mean(0), matrix[ids[1]].mean(0), dim=0))
    ((accepted, value),) = cos.check([_swap("a good film", 1, "bad")])
    assert value == pytest.approx(expected, abs=1e-4) and accepted == (expected >= 0.5)
    mask = cos.candidate_mask(["good"], "t", ["bad", "good"])
    assert mask.shape == (1, 2) and bool(mask[0, 1])  # a word is similar to itself
    assert check_swaps([cos], [_swap("a good film", 1, "gdoo", kind="char")]) == [{"word_cos": None}]


def test_sentence_similarity_with_a_local_sentence_transformers_folder(sentence_encoder_dir):
    sim = SentenceSimilarity(0.999, sentence_encoder_dir)
    same, other = sim.check([_swap("a gorgeous film", 1, "gorgeous"), _swap("a gorgeous film", 1, "dull")])
    assert same[0] and same[1] == pytest.approx(1.0, abs=1e-4)
    assert other[1] < 1.0 and other[0] == (other[1] >= 0.999 - 1e-6)
    windowed = SentenceSimilarity(0.0, sentence_encoder_dir, window=1)
    assert windowed._pair(_swap("w0 w1 w2 w3 w4", 3, "x")) == ("w2 w3 w4", "w2 x w4")
    with pytest.raises(ValueError, match="not a local model folder"):
        SentenceSimilarity(0.9, "/nonexistent/st-model")


def test_part_of_speech_with_a_user_tagger():
    tags = {"good": "JJ", "great": "JJ", "film": "NN", "run": "VB"}
    tagger = lambda words: [tags.get(w, "NN") for w in words]  # noqa: E731
    pos = PartOfSpeech(tagger)
    (a, va), (b, vb) = pos.check([_swap("a good film", 1, "great"), _swap("a good film", 1, "film")])
    assert (a, va) == (True, "JJ->JJ") and (b, vb) == (False, "JJ->NN")
    assert PartOfSpeech(tagger, allow_noun_verb_swap=True).check([_swap("a film", 1, "run")])[0][0]
    with pytest.raises(TypeError, match="tagger"):
        PartOfSpeech("nltk")
    with pytest.raises(ValueError, match="tags for"):
        PartOfSpeech(lambda w: ["NN"]).check([_swap("a good film", 1, "great")])


def test_presets_hold_the_documented_thresholds(sentence_encoder_dir):
    assert PRESETS == ("none", "hotflip-paper", "a2t", "strict")
    assert preset("none") == [] and resolve_constraints(None) == []
    hot = {c.name: c for c in preset("hotflip-paper")}
    assert set(hot) == {"stopwords", "max_words", "word_cos"}
    assert hot["max_words"].max_words == 2 and hot["word_cos"].min_cos == 0.8
    a2t = {c.name: c for c in preset("a2t", sentence_encoder=sentence_encoder_dir)}
    assert set(a2t) == {"stopwords", "max_words", "word_cos", "sentence_sim"}
    assert (a2t["max_words"].max_fraction, a2t["max_words"].min_words) == (0.1, 2)
    assert a2t["word_cos"].min_cos == A2T_WORD_COS == 0.6 and a2t["sentence_sim"].min_sim == A2T_SENTENCE_SIM == 0.9
    assert a2t["word_cos"].encoder is a2t["sentence_sim"].encoder  # single words through the sentence encoder
    strict = {c.name: c for c in preset("strict", sentence_encoder=sentence_encoder_dir, tagger=lambda w: ["NN"] * len(w))}
    assert set(strict) == {"stopwords", "word_cos", "sentence_sim", "pos"}
    assert strict["word_cos"].min_cos == 0.9 and strict["sentence_sim"].min_sim == 0.98
    assert "sentence-transformers" in strict["word_cos"].describe()["encoder"]
    with pytest.raises(ValueError, match="constraints"):
        preset("textfooler")
    with pytest.raises(ValueError, match="appears twice"):
        resolve_constraints([Stopwords(), Stopwords()])


@pytest.mark.parametrize("name", ["text-hotflip", "text-wordswap", "text-charswap", "text-embedding-pgd"])
def test_every_attack_honours_its_constraints_and_records_their_values(name, mr_trained, mr_split, sentence_encoder_dir):
    texts, labels = mr_split[2][:80], mr_split[3][:80]
    constraints = [Stopwords(), MaxWordsChanged(max_words=1), WordEmbeddingCosine(0.1),
                   SentenceSimilarity(0.5, sentence_encoder_dir)]
    extra = {"eps": 1.5, "max_iter": 3} if name == "text-embedding-pgd" else {}
    attack = art_ext.get_attack(name, mr_trained, constraints=constraints, max_perturb_ratio=0.3, **extra)
    r = attack.attack_text(texts, labels)
    assert [c["name"] for c in r.constraints] == ["stopwords", "max_words", "word_cos", "sentence_sim"]
    made = 0
    for i in range(len(texts)):
        assert r.words_changed[i] <= 1  # MaxWordsChanged(max_words=1) caps the at-least-one-word budget
        for swap in r.swaps[i]:
            made += 1
            assert swap.old.lower() not in ENGLISH_STOPWORDS
            assert swap.values["words_changed"] <= 1 and swap.values["sentence_sim"] >= 0.5
            if swap.kind == "word":
                assert swap.values["word_cos"] >= 0.1
            else:
                assert swap.values["word_cos"] is None
    assert made > 0, f"{name} made no swap on 80 MR sentences"
    assert r.success_rate > 0 or name == "text-embedding-pgd"


def test_tight_constraints_bite(mr_trained, mr_split):
    """A greedy search is not monotone in its constraints (a blocked first choice can lead to a
    better path), but a tight word-cosine threshold removes most successes."""
    texts, labels = mr_split[2][:60], mr_split[3][:60]
    loose = HotFlip(mr_trained).attack_text(texts, labels)
    tight = HotFlip(mr_trained, constraints=[Stopwords(), WordEmbeddingCosine(0.9)]).attack_text(texts, labels)
    print(f"HotFlip success: no constraint {loose.success_rate:.3f}, word cosine >= 0.9 {tight.success_rate:.3f}")
    assert tight.success_rate < 0.5 * loose.success_rate
    w = WordSwap(mr_trained, constraints="hotflip-paper").attack_text(texts, labels)
    assert all(len(s) <= 2 for s in w.swaps)
    assert np.all(np.asarray([v.values["word_cos"] for s in w.swaps for v in s]) >= 0.8 - 1e-4)
