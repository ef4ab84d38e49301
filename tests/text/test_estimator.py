"""HuggingFaceTextClassifier: ART contract, two architectures, padding, gradients, bad input."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

pytest.importorskip("transformers", reason="the text plugin needs transformers (pip install art-ext[text])")

from art.attacks.attack import EvasionAttack
from art.attacks.evasion import FastGradientMethod
from art.estimators.classification.classifier import ClassGradientsMixin, ClassifierMixin
from art.estimators.estimator import BaseEstimator, LossGradientsMixin
from art_ext_plugins.text.estimator import HuggingFaceTextClassifier
from text_helpers import FALLBACK_CORPUS, make_tokenizer, tiny_bert, tiny_distilbert

ARCHS = {"bert": tiny_bert, "distilbert": tiny_distilbert}


@pytest.fixture(params=sorted(ARCHS))
def clf(request, small_tokenizer):
    model = ARCHS[request.param](len(small_tokenizer))
    return HuggingFaceTextClassifier(model, small_tokenizer, max_length=32, batch_size=4)


def test_really_subclasses_art_mixins(clf):
    mro = type(clf).__mro__
    for base in (BaseEstimator, ClassifierMixin, LossGradientsMixin, ClassGradientsMixin):
        assert base in mro
    assert EvasionAttack.is_estimator_valid(clf, FastGradientMethod._estimator_requirements)
    assert clf.nb_classes == 2 and clf.input_shape == (32,)


def test_predict_strings_ids_and_embeddings_agree(clf):
    texts = FALLBACK_CORPUS[:6]
    from_text = clf.predict(texts)
    ids, mask = clf.encode(texts)
    from_ids = clf.predict(ids)
    from_obj = clf.predict(np.array(texts, dtype=object))
    emb = clf.embed(torch.as_tensor(ids)).detach().numpy()
    from_emb = clf.predict(emb, attention_mask=mask)
    assert from_text.shape == (6, 2)
    np.testing.assert_allclose(from_text, from_ids, atol=1e-5)
    np.testing.assert_allclose(from_text, from_obj, atol=1e-5)
    np.testing.assert_allclose(from_text, from_emb, atol=1e-5)


def test_padding_is_ignored(clf):
    ids, _ = clf.encode(FALLBACK_CORPUS[:3])
    padded = np.concatenate([ids, np.full((3, 9), clf.pad_token_id)], axis=1)[:, :32]
    np.testing.assert_allclose(clf.predict(ids), clf.predict(padded), atol=1e-5)
    # one sentence alone == the same sentence padded inside a batch with a longer one
    single = clf.predict([FALLBACK_CORPUS[0]])
    batch = clf.predict([FALLBACK_CORPUS[0], FALLBACK_CORPUS[5]])
    np.testing.assert_allclose(single[0], batch[0], atol=1e-5)


def test_batching_does_not_change_predictions(clf):
    texts = FALLBACK_CORPUS[:8]
    np.testing.assert_allclose(clf.predict(texts, batch_size=3), clf.predict(texts, batch_size=64), atol=1e-5)


def test_loss_gradient_is_wrt_embeddings_and_matches_finite_difference(clf):
    ids, mask = clf.encode(FALLBACK_CORPUS[:4])
    y = np.array([0, 1, 1, 0])
    grad = clf.loss_gradient(ids, y)
    assert grad.shape == (*ids.shape, clf.hidden_size)
    assert np.all(grad[mask == 0] == 0), "padding must get no gradient"
    # one-hot labels give the same gradient (ART accepts both formats)
    np.testing.assert_allclose(grad, clf.loss_gradient(ids, np.eye(2)[y]), atol=1e-7)
    # directional finite difference of the summed... mean loss
    emb = clf.embed(torch.as_tensor(ids)).detach().numpy().astype(np.float32)
    direction = np.random.default_rng(0).normal(size=emb.shape).astype(np.float32) * mask[..., None]
    h = 1e-3
    loss = lambda e: float(clf.compute_loss(e, y, reduction="mean", attention_mask=mask))  # noqa: E731
    numeric = (loss(emb + h * direction) - loss(emb - h * direction)) / (2 * h)
    analytic = float((grad * direction).sum())
    assert numeric == pytest.approx(analytic, rel=0.1, abs=1e-5)


def test_class_gradient_shapes(clf):
    ids, _ = clf.encode(FALLBACK_CORPUS[:3])
    assert clf.class_gradient(ids).shape == (3, 2, *ids.shape[1:], clf.hidden_size)
    assert clf.class_gradient(ids, label=1).shape == (3, 1, *ids.shape[1:], clf.hidden_size)
    assert clf.class_gradient(ids, label=[0, 1, 0]).shape == (3, 1, *ids.shape[1:], clf.hidden_size)
    with pytest.raises(ValueError, match="label"):
        clf.class_gradient(ids, label=5)


def test_eval_mode_during_predict_and_restored(clf):
    clf.model.train()
    first = clf.predict(FALLBACK_CORPUS[:4])
    second = clf.predict(FALLBACK_CORPUS[:4])
    np.testing.assert_array_equal(first, second)  # dropout off while predicting
    assert clf.model.training, "the caller's training mode must be restored"


def test_empty_string_is_documented_behaviour(clf):
    preds = clf.predict(["", "a gorgeous movie"])
    assert preds.shape == (2, 2) and np.isfinite(preds).all()
    _ids, mask = clf.encode([""])
    assert mask.sum() == 2  # [CLS] [SEP] only


def test_over_long_input_is_truncated_with_a_warning(clf):
    long_text = " ".join(["gorgeous"] * 200)
    with pytest.warns(UserWarning, match="truncated"):
        ids, _mask = clf.encode([long_text])
    assert ids.shape[1] == 32
    with pytest.warns(UserWarning, match="truncated"):
        assert clf.predict([long_text]).shape == (1, 2)


def test_non_text_input_raises(clf):
    with pytest.raises(TypeError, match="not text input"):
        clf.predict(np.zeros((2, 1, 28, 28), dtype=np.float32))
    with pytest.raises(TypeError, match="x"):
        clf.predict(np.zeros((2, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="hidden size"):
        clf.predict(np.zeros((2, 5, clf.hidden_size + 1), dtype=np.float32))
    with pytest.raises(ValueError, match="token ids must lie"):
        clf.predict(np.array([[2, 10_000_000, 3]]))


def test_vocabulary_mismatch_raises(small_tokenizer):
    model = tiny_bert(vocab_size=len(small_tokenizer) - 50)
    with pytest.raises(ValueError, match="vocabulary mismatch"):
        HuggingFaceTextClassifier(model, small_tokenizer)


def test_model_without_input_embeddings_raises(small_tokenizer):
    class NoEmbeddings(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 2)

        def get_input_embeddings(self):
            raise NotImplementedError("no embeddings")

    with pytest.raises(TypeError, match="no input embeddings"):
        HuggingFaceTextClassifier(NoEmbeddings(), small_tokenizer)
    with pytest.raises(TypeError, match="get_input_embeddings"):
        HuggingFaceTextClassifier(torch.nn.Linear(4, 2), small_tokenizer)


def test_bad_parameters(small_tokenizer):
    model = tiny_bert(len(small_tokenizer))
    with pytest.raises(ValueError, match="max_length"):
        HuggingFaceTextClassifier(model, small_tokenizer, max_length=1)
    with pytest.raises(ValueError, match="batch_size"):
        HuggingFaceTextClassifier(model, small_tokenizer, batch_size=0)
    with pytest.raises(TypeError, match="tokenizer"):
        HuggingFaceTextClassifier(model, "bert-base-uncased")


def test_save_and_load_roundtrip(tmp_path, small_tokenizer):
    clf = HuggingFaceTextClassifier(tiny_bert(len(small_tokenizer)), small_tokenizer, max_length=32)
    clf.save("m", str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = HuggingFaceTextClassifier.from_pretrained(str(tmp_path / "m"), max_length=32)
    np.testing.assert_allclose(clf.predict(FALLBACK_CORPUS[:3]), loaded.predict(FALLBACK_CORPUS[:3]), atol=1e-5)


def test_tokenizer_trained_in_test_is_wordpiece():
    tok = make_tokenizer(FALLBACK_CORPUS, vocab_size=120)
    pieces = tok.convert_ids_to_tokens(tok("unbelievably beautiful")["input_ids"])
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]"


def test_importing_the_plugin_does_not_import_transformers():
    code = ("import sys, art_ext_plugins.text, art_ext; art_ext.list_attacks(); "
            "print('transformers' in sys.modules, 'torch' in sys.modules and 'art_ext_plugins.text.estimator' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
