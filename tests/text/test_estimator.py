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
from art_ext_plugins.text.model.estimator import HuggingFaceTextClassifier
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
    with pytest.raises(ValueError, match="label"):
        clf.class_gradient(ids, label=[0, 0.5, 1])


@pytest.mark.parametrize("bad,match", [
    (np.array([0, 1, 0.7, 1]), r"\[2\] = 0.7"),  # used to train / attack as class 0
    (np.array([0, 1, 5, 1]), "0 <= label < nb_classes = 2"),  # used to die with torch's IndexError
    (np.array([0, 1, -1, 1]), "nb_classes"),
    (np.array([[0.3, 0.7], [1, 0], [0, 1], [1, 0]]), "one-hot"),
])
def test_labels_are_checked_everywhere(clf, bad, match):
    """Issue 12: labels are integral class indices (or exact one-hot rows) in range, in the
    gradients, the loss, the trainers and the attacks; the error names the value."""
    from art_ext_plugins.text.attacks.hotflip import HotFlip
    from art_ext_plugins.text.training.trainers import TextTrainer

    texts = FALLBACK_CORPUS[:4]
    ids, _ = clf.encode(texts)
    with pytest.raises(ValueError, match=match):
        clf.loss_gradient(ids, bad)
    with pytest.raises(ValueError, match=match):
        clf.compute_loss(ids, bad)
    with pytest.raises(ValueError, match=match):
        TextTrainer(clf, verbose=False).fit(texts, bad)
    with pytest.raises(ValueError, match=match):
        HotFlip(clf).attack_text(texts, bad)
    with pytest.raises(ValueError, match=match):
        HotFlip(clf).generate(ids, bad)


def test_nb_classes_must_match_the_model(small_tokenizer):
    model = tiny_bert(len(small_tokenizer), num_labels=3)
    assert HuggingFaceTextClassifier(model, small_tokenizer).nb_classes == 3
    with pytest.raises(ValueError, match=r"nb_classes=2 does not match the model: model.config.num_labels is 3"):
        HuggingFaceTextClassifier(model, small_tokenizer, nb_classes=2)
    with pytest.raises(TypeError, match="nb_classes"):
        HuggingFaceTextClassifier(model, small_tokenizer, nb_classes=3.0)

    class Bare(torch.nn.Module):  # no config: the probe forward decides
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def get_input_embeddings(self):
            return self.inner.get_input_embeddings()

        def forward(self, inputs_embeds, attention_mask):
            return self.inner(inputs_embeds=inputs_embeds, attention_mask=attention_mask).logits

    bare = Bare(tiny_bert(len(small_tokenizer), num_labels=4))
    assert HuggingFaceTextClassifier(bare, small_tokenizer).nb_classes == 4
    with pytest.raises(ValueError, match="output width is 4"):
        HuggingFaceTextClassifier(bare, small_tokenizer, nb_classes=2)


def test_tokenizer_without_pad_token_is_refused_at_construction(small_tokenizer):
    import copy

    tokenizer = copy.deepcopy(small_tokenizer)
    tokenizer.pad_token = None
    assert tokenizer.pad_token_id is None
    with pytest.raises(ValueError, match=r"no pad token.*tokenizer.pad_token = tokenizer.eos_token"):
        HuggingFaceTextClassifier(tiny_bert(len(small_tokenizer)), tokenizer)


def test_max_length_beyond_the_position_embeddings_is_refused(small_tokenizer):
    model = tiny_bert(len(small_tokenizer), max_pos=64)
    assert HuggingFaceTextClassifier(model, small_tokenizer, max_length=64).max_length == 64
    with pytest.raises(ValueError, match=r"max_length=65 exceeds the model's 64 position embeddings"):
        HuggingFaceTextClassifier(model, small_tokenizer, max_length=65)


def test_from_pretrained_keeps_a_trained_head_with_more_labels(tmp_path, small_tokenizer):
    """Issue 12: a folder with a 3-label head used to fail (num_labels=2 was forced)."""
    model = tiny_bert(len(small_tokenizer), num_labels=3)
    model.save_pretrained(tmp_path / "three")
    small_tokenizer.save_pretrained(tmp_path / "three")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = HuggingFaceTextClassifier.from_pretrained(str(tmp_path / "three"), max_length=32)
        assert loaded.nb_classes == 3
        original = HuggingFaceTextClassifier(model, small_tokenizer, max_length=32)
        np.testing.assert_allclose(loaded.predict(FALLBACK_CORPUS[:3]), original.predict(FALLBACK_CORPUS[:3]), atol=1e-5)
        with pytest.raises(ValueError, match="trained head with 3 labels"):
            HuggingFaceTextClassifier.from_pretrained(str(tmp_path / "three"), num_labels=2)
        # a base model (no trained head): a fresh head, 2 labels by default or num_labels
        model.bert.save_pretrained(tmp_path / "base")
        small_tokenizer.save_pretrained(tmp_path / "base")
        assert HuggingFaceTextClassifier.from_pretrained(str(tmp_path / "base")).nb_classes == 2
        assert HuggingFaceTextClassifier.from_pretrained(str(tmp_path / "base"), num_labels=5).nb_classes == 5
    with pytest.raises(ValueError, match="not a folder"):
        HuggingFaceTextClassifier.from_pretrained(str(tmp_path / "missing"))


def test_predictions_and_gradients_stay_float32_under_autocast(clf):
    """Evaluation is exact whatever the caller's autocast (the core trains in bf16 on this CPU)."""
    from art_ext.core.device import cpu_bf16_native

    ids, _ = clf.encode(FALLBACK_CORPUS[:4])
    y = np.array([0, 1, 1, 0])
    reference, grad = clf.predict(ids), clf.loss_gradient(ids, y)
    dtype = torch.bfloat16 if cpu_bf16_native() else torch.float32
    with torch.autocast("cpu", dtype=dtype):
        np.testing.assert_array_equal(clf.predict(ids), reference)
        np.testing.assert_array_equal(clf.loss_gradient(ids, y), grad)
    assert grad.dtype == np.float32


def test_eval_mode_during_predict_and_restored(clf):
    clf.model.train()
    frozen = next(m for m in clf.model.modules() if isinstance(m, torch.nn.Dropout))
    frozen.eval()  # a sub-module the user froze on purpose
    first = clf.predict(FALLBACK_CORPUS[:4])
    second = clf.predict(FALLBACK_CORPUS[:4])
    np.testing.assert_array_equal(first, second)  # dropout off while predicting
    assert clf.model.training, "the caller's training mode must be restored"
    assert not frozen.training, "every sub-module's own mode must be restored"


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
    with pytest.raises(TypeError, match="max_length"):
        HuggingFaceTextClassifier(model, small_tokenizer, max_length=32.0)
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
            "print('transformers' in sys.modules, 'torch' in sys.modules and 'art_ext_plugins.text.model.estimator' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
