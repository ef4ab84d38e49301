"""Issue 22 (bad input, round three) for the text plugin: the estimator refuses what it would
silently mangle, and a text attack's success rate never drops a sentence from its denominator."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the text plugin needs transformers (pip install art-ext[text])")

from art_ext_plugins.text.model.estimator import TextInputError

import art_ext


@pytest.mark.parametrize("batch_size", [-1, 0, 1.5])
def test_estimator_refuses_a_batch_size_that_would_return_nothing(mr_classifier, batch_size):
    with pytest.raises((ValueError, TypeError), match="batch_size"):
        mr_classifier.predict(["a fine film", "dull"], batch_size=batch_size)
    with pytest.raises((ValueError, TypeError), match="batch_size"):
        mr_classifier.loss_gradient(["a fine film"], np.array([1]), batch_size=batch_size)


def test_estimator_refuses_non_strings_among_strings(mr_classifier):
    for mixed in (["a fine film", 3], ("dull", None)):
        with pytest.raises(TextInputError, match=r"x\[1\]: expected a string"):
            mr_classifier.predict(mixed)


@pytest.mark.parametrize("name", ["text-charswap", "text-hotflip"])
def test_success_rate_counts_every_correctly_classified_sentence(mr_classifier, mr_split, name):
    texts = ["good", "a fine film", "dull and slow", "", "the film is a gorgeous , witty , seductive delight",
             "boring", "an utterly tedious , lifeless mess of a movie"]
    labels = np.array([1, 1, 0, 1, 1, 0, 0])
    correct = mr_classifier.predict(texts).argmax(1) == labels
    result = art_ext.get_attack(name, mr_classifier).attack_text(texts, labels)
    assert result.attacked == int(correct.sum())  # short and untouchable sentences are in the denominator
    assert result.success_rate == pytest.approx(sum(result.success) / int(correct.sum()))
    for i, ok in enumerate(correct):
        assert (result.status[i] == "skipped") == (not ok)
    for changed, n_words in zip(result.words_changed, result.n_words, strict=True):
        assert changed <= max(1, int(0.2 * n_words + 1e-9))


def test_an_optimizer_and_an_lr_together_are_refused(mr_classifier):
    import torch

    optimizer = torch.optim.SGD(mr_classifier.model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"lr=0.001: the optimizer \(SGD, lr=0.1\) sets it"):
        art_ext.get_trainer("text-standard", mr_classifier, optimizer=optimizer, lr=1e-3)
    trainer = art_ext.get_trainer("text-standard", mr_classifier, optimizer=optimizer)
    assert trainer.lr == 0.1  # what it records is what it trains at
    assert art_ext.get_trainer("text-standard", mr_classifier, lr=3e-5).optimizer.param_groups[0]["lr"] == 3e-5


def test_an_empty_or_foreign_model_folder_is_one_error(tmp_path):
    from art_ext_plugins.text.model.estimator import HuggingFaceTextClassifier

    with pytest.raises(ValueError, match="holds no Hugging Face model .*holds nothing"):
        HuggingFaceTextClassifier.from_pretrained(str(tmp_path))
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="no config.json; it holds weights.bin"):
        HuggingFaceTextClassifier.from_pretrained(str(tmp_path))


@pytest.mark.parametrize("name", ["text-hotflip", "text-wordswap", "text-charswap"])
def test_constraints_are_resolved_once_per_construction(mr_classifier, monkeypatch, name):
    from art_ext_plugins.text.attacks import word_attack as _word_attack

    calls = []
    real = _word_attack.resolve_constraints
    monkeypatch.setattr(_word_attack, "resolve_constraints", lambda *a, **k: calls.append(1) or real(*a, **k))
    attack = art_ext.get_attack(name, mr_classifier, constraints="none")
    assert len(calls) == 1
    attack.set_params(max_perturb_ratio=0.3)  # other settings: nothing resolved again
    assert len(calls) == 1
    attack.set_params(constraints=[])  # new constraints: resolved again
    assert len(calls) == 2
