"""Text trainers on the core: FreeLB raises robust accuracy of the tiny MR model; FGM/PGD training
run; registry, checkpoints and bad parameters."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

pytest.importorskip("transformers", reason="the text plugin needs transformers (pip install art-ext[text])")

from art.defences.trainer import Trainer
from art_ext_plugins.text.attacks.embedding_pgd import EmbeddingPGD
from art_ext_plugins.text.attacks.hotflip import ENGLISH_STOPWORDS
from art_ext_plugins.text.attacks.token_swaps import TokenSwapper
from art_ext_plugins.text.model.estimator import HuggingFaceTextClassifier
from art_ext_plugins.text.training.freelb import FreeLBTrainer
from art_ext_plugins.text.training.trainers import (
    EmbeddingFGMTrainer,
    EmbeddingPGDTrainer,
    TextTrainer,
)
from text_helpers import FALLBACK_CORPUS, accuracy, assert_hotflip_drop, finetune, tiny_bert

import art_ext
from art_ext.core.trainer import CoreTrainer

# FreeLB with magnitudes relative to this tiny model's embedding scale (its embeddings are ~5x
# smaller than RoBERTa's, so the paper's absolute 0.6 bound would not transfer).
FREELB_TEST_PARAMS = {"relative": True, "adv_init_mag": 1.0, "adv_lr": 0.5, "adv_max_norm": 2.0, "adv_steps": 2}
SWAP_TEST_PARAMS = {"relative": True, "adv_init_mag": 0.5, "adv_lr": 0.3, "adv_max_norm": 1.0, "adv_steps": 2, "adv_swaps": 2}


def _robust(clf, texts, labels, eps_abs):
    attack = EmbeddingPGD(clf, eps=eps_abs, eps_step=eps_abs / 2, max_iter=10, relative=False, seed=0)
    attack.generate(np.array(texts, dtype=object), labels)
    return float(attack.last_result.robust().mean())


def test_freelb_raises_robust_accuracy(mr_base, mr_trained, mr_split):
    """Same budget (the base model plus 2 epochs): FreeLB's model resists embedding PGD better."""
    texts, labels = mr_split[2], mr_split[3]
    freelb = finetune(mr_base, mr_split, "freelb", **FREELB_TEST_PARAMS)
    clean_std, clean_flb = accuracy(mr_trained, texts, labels), accuracy(freelb, texts, labels)
    assert clean_flb > 0.58 and clean_flb >= clean_std - 0.05, (clean_std, clean_flb)
    # the same absolute budget for both models (L2 per token), from the base model's scale
    eps_abs = 0.25 * mr_base.embedding_scale
    robust_std, robust_flb = _robust(mr_trained, texts, labels, eps_abs), _robust(freelb, texts, labels, eps_abs)
    print(f"robust accuracy under embedding PGD: standard {robust_std:.3f}, FreeLB {robust_flb:.3f}")
    assert robust_flb >= robust_std + 0.02, f"standard {robust_std:.3f} vs FreeLB {robust_flb:.3f}"


def _swap_batch(clf, texts, labels, n_swaps):
    ids, mask = (torch.as_tensor(a) for a in clf.to_ids(texts))
    y = torch.as_tensor(np.asarray(labels))
    emb = clf.embed(ids).detach().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(clf.logits_from_embeddings(emb, mask), y)
    (grad,) = torch.autograd.grad(loss, emb)
    swapper = TokenSwapper(clf, ENGLISH_STOPWORDS, max_ratio=0.2)
    real = clf.real_token_mask(ids, mask)
    new, n_made = swapper.swap(ids, real, clf.embedding_matrix, grad, n_swaps)
    return ids, mask, y, real, swapper, new, int(n_made)


def test_token_swaps_respect_constraints_and_raise_the_loss(mr_classifier, mr_split):
    """FreeLB's first-order swaps: only eligible whole words, within the budget, never special
    tokens or padding, and (on the trained MR model) they raise the loss of the batch."""
    clf = mr_classifier
    texts, labels = mr_split[2][:64], mr_split[3][:64]
    ids, mask, y, real, swapper, new, n_made = _swap_batch(clf, texts, labels, n_swaps=2)
    changed = new != ids
    assert int(changed.sum()) == n_made > 32
    assert not changed[~real].any()  # special tokens and padding
    assert swapper.eligible(ids, real)[changed].all()
    assert torch.isin(new[changed], swapper.candidates).all()
    surfaces = [clf.tokenizer.convert_ids_to_tokens(int(t)) for t in ids[changed]]
    assert not set(surfaces) & ENGLISH_STOPWORDS
    per_sentence = changed.sum(dim=1)
    budget = (real.sum(dim=1) * 0.2).floor().clamp(min=1, max=2)
    assert (per_sentence <= budget).all()
    with torch.no_grad():
        before = torch.nn.functional.cross_entropy(clf.logits_from_ids(ids, mask), y)
        after = torch.nn.functional.cross_entropy(clf.logits_from_ids(new, mask), y)
    assert after > before + 0.05, (float(before), float(after))


def test_freelb_swaps_lower_hotflip_success(mr_base, mr_trained, mr_split):
    """The discrete option does what it is for: fewer successful word swaps at the same budget."""
    texts, labels = mr_split[2], mr_split[3]
    swapped = finetune(mr_base, mr_split, "freelb", **SWAP_TEST_PARAMS)
    assert_hotflip_drop(mr_trained, swapped, texts, labels, "FreeLB with swaps")


def test_freelb_swaps_and_warmup_train(small_tokenizer):
    clf = HuggingFaceTextClassifier(tiny_bert(len(small_tokenizer)), small_tokenizer, max_length=32)
    trainer = FreeLBTrainer(clf, lr=1e-3, nb_epochs=2, batch_size=4, seed=0, verbose=False, adv_swaps=1,
                            adv_warmup_steps=4)
    assert trainer._unit() == pytest.approx(0.25)  # before the first step: 1/4 of the magnitudes
    trainer.fit(FALLBACK_CORPUS, np.arange(len(FALLBACK_CORPUS)) % 2)
    assert trainer._unit() == pytest.approx(1.0)
    assert all(h["train_swaps"] > 0 for h in trainer.history)


@pytest.mark.parametrize("cls,params", [
    (EmbeddingFGMTrainer, {"eps": 0.05}),
    (EmbeddingPGDTrainer, {"eps": 0.05, "max_iter": 2}),
    (FreeLBTrainer, {"relative": True}),
])
def test_embedding_trainers_learn_on_mr(cls, params, mr_base, mr_split):
    clf = HuggingFaceTextClassifier(copy.deepcopy(mr_base.model), mr_base.tokenizer, max_length=32)
    trainer = cls(clf, lr=1e-3, nb_epochs=2, batch_size=32, seed=0, verbose=False, **params)
    assert isinstance(trainer, Trainer) and isinstance(trainer, CoreTrainer)
    texts, labels = mr_split[0][:800], mr_split[1][:800]
    trainer.fit(texts, labels)
    assert len(trainer.history) == 2
    assert trainer.history[1]["train_loss"] < trainer.history[0]["train_loss"]
    assert accuracy(clf, texts, labels) > 0.8 and accuracy(clf, mr_split[2], mr_split[3]) > 0.55


def _no_dropout_bert(tokenizer):
    model = tiny_bert(len(tokenizer), seed=2)
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return model


def test_freelb_accumulates_gradients_over_k_steps_and_respects_the_bound(small_tokenizer):
    """One FreeLB step against a manual computation: parameter gradients are the sum over the K
    ascent steps of grad(CE / K); every step's perturbation has Frobenius norm <= the bound."""
    clf = HuggingFaceTextClassifier(_no_dropout_bert(small_tokenizer), small_tokenizer, max_length=32)
    k, lr, bound = 3, 0.1, 0.08
    trainer = FreeLBTrainer(clf, adv_steps=k, adv_init_mag=0.0, adv_lr=lr, adv_max_norm=bound, precision="fp32",
                            lr=1e-3, batch_size=8, seed=0, verbose=False)
    trainer.setup()
    reference = copy.deepcopy(clf.model)
    ids, mask = (torch.as_tensor(a) for a in clf.encode(FALLBACK_CORPUS[:8]))
    y = torch.tensor([1, 0, 1, 0, 1, 1, 0, 1])
    captured: dict[str, torch.Tensor] = {}
    seen: list[torch.Tensor] = []
    logits = trainer.logits
    trainer.step = lambda *a, **kw: captured.update(  # type: ignore[method-assign]
        {n: p.grad.clone() for n, p in clf.model.named_parameters() if p.grad is not None})
    trainer.logits = lambda emb, m, net=None: (seen.append(emb.detach().clone()), logits(emb, m, net))[1]  # type: ignore[method-assign]
    trainer.train_step(trainer.prepare_batch((ids, mask, y)))

    real = clf.real_token_mask(ids, mask).unsqueeze(-1).float()
    emb0 = reference.get_input_embeddings()(ids).detach()
    delta = torch.zeros_like(emb0)
    for _step in range(k):
        delta.requires_grad_(True)
        out = reference(inputs_embeds=reference.get_input_embeddings()(ids) + delta, attention_mask=mask).logits
        (torch.nn.functional.cross_entropy(out, y) / k).backward()
        with torch.no_grad():
            g = delta.grad * real
            delta = (delta.detach() + lr * g / g.flatten(1).norm(dim=1).view(-1, 1, 1)) * real
            norms = delta.flatten(1).norm(dim=1).view(-1, 1, 1)
            delta = delta * torch.clamp(bound / norms, max=1.0)
    expected = {n: p.grad for n, p in reference.named_parameters() if p.grad is not None}
    assert set(captured) == set(expected)
    for name, grad in expected.items():
        torch.testing.assert_close(captured[name], grad, rtol=1e-4, atol=1e-7, msg=name)
    # the perturbations the model saw: zero first, then on the Frobenius sphere of the bound (lr > bound)
    assert len(seen) == k
    norms = [(e - emb0).flatten(1).norm(dim=1) for e in seen]
    assert float(norms[0].max()) == 0.0
    for n in norms[1:]:
        assert float(n.max()) <= bound + 1e-6 and float(n.min()) >= bound - 1e-5


def test_evaluation_runs_in_float32_and_eval_mode_and_modes_are_restored(mr_base, mr_split):
    clf = HuggingFaceTextClassifier(copy.deepcopy(mr_base.model), mr_base.tokenizer, max_length=32)
    clf.model.train()
    frozen = next(m for m in clf.model.modules() if isinstance(m, torch.nn.Dropout))
    frozen.eval()
    flags: list[tuple[bool, bool]] = []
    forward = clf.model.forward

    def spy(*args, **kwargs):
        flags.append((torch.is_autocast_enabled("cpu"), clf.model.training))
        return forward(*args, **kwargs)

    clf.model.forward = spy  # type: ignore[method-assign]
    trainer = TextTrainer(clf, lr=1e-3, nb_epochs=1, batch_size=32, seed=0, verbose=False)  # precision "auto"
    trainer.fit(mr_split[0][:96], mr_split[1][:96], validation_data=(mr_split[2][:64], mr_split[3][:64]))
    clf.model.forward = forward  # type: ignore[method-assign]
    assert "val_clean_acc" in trainer.history[-1]
    train_flags, eval_flags = flags[:3], flags[3:]
    assert all(training for _, training in train_flags) and all(not t for _, t in eval_flags)
    assert all(not autocast for autocast, _ in eval_flags), "validation must run without autocast"
    if trainer.policy.precision == "bf16":
        assert all(autocast for autocast, _ in train_flags)
    assert clf.model.training and not frozen.training, "fit must leave every sub-module in its own mode"


def test_perturbations_never_touch_special_tokens_or_padding(small_tokenizer):
    """Train-step perturbations are masked: a model whose output only depends on [CLS]/padding
    embeddings would see no change. We check the FreeLB delta through a hook."""
    model = tiny_bert(len(small_tokenizer))
    clf = HuggingFaceTextClassifier(model, small_tokenizer, max_length=32)
    seen = []
    original = clf.model.forward

    def spy(*args, **kwargs):
        if kwargs.get("inputs_embeds") is not None:
            seen.append(kwargs["inputs_embeds"].detach().clone())
        return original(*args, **kwargs)

    clf.model.forward = spy  # type: ignore[method-assign]
    trainer = FreeLBTrainer(clf, lr=1e-3, nb_epochs=1, batch_size=8, seed=0, verbose=False, adv_steps=3)
    texts = FALLBACK_CORPUS[:8]
    ids, mask = clf.encode(texts)
    labels = torch.tensor([1, 0, 1, 0, 1, 1, 0, 1])
    data = torch.utils.data.TensorDataset(torch.as_tensor(ids), torch.as_tensor(mask), labels)
    trainer.fit_loader(torch.utils.data.DataLoader(data, batch_size=8, shuffle=False))  # keep the row order
    clf.model.forward = original  # type: ignore[method-assign]
    real = clf.real_token_mask(torch.as_tensor(ids), torch.as_tensor(mask)).numpy()
    assert len(seen) >= 3
    first = seen[0].numpy()
    for emb in seen[1:3]:  # steps of the same batch (weights unchanged within FreeLB's K steps)
        diff = np.abs(emb.numpy() - first).sum(-1)[:, : real.shape[1]]
        assert diff[~real[:, : diff.shape[1]]].max() == 0.0
        assert diff[real[:, : diff.shape[1]]].max() > 0.0


def test_registry_and_checkpoints(tmp_path, small_tokenizer):
    clf = HuggingFaceTextClassifier(tiny_bert(len(small_tokenizer)), small_tokenizer, max_length=32)
    for name in ("freelb", "text-fgm", "text-embedding-pgd", "text-standard"):
        assert isinstance(art_ext.get_trainer(name, clf, verbose=False), Trainer)
    trainer = art_ext.get_trainer("freelb", clf, nb_epochs=1, batch_size=8, checkpoint_dir=tmp_path, verbose=False, seed=0)
    trainer.fit(FALLBACK_CORPUS, np.arange(len(FALLBACK_CORPUS)) % 2)
    assert (tmp_path / "last.pt").is_file()


def test_default_optimizer_is_the_fused_adamw_and_trains(small_tokenizer):
    clf = HuggingFaceTextClassifier(tiny_bert(len(small_tokenizer)), small_tokenizer, max_length=32)
    trainer = TextTrainer(clf, lr=2e-3, nb_epochs=10, batch_size=8, verbose=False, seed=0)
    assert isinstance(trainer.optimizer, torch.optim.AdamW) and trainer.optimizer.defaults["fused"] is True
    labels = np.arange(len(FALLBACK_CORPUS)) % 2
    before = accuracy(clf, FALLBACK_CORPUS, labels)
    trainer.fit(FALLBACK_CORPUS, labels)
    assert accuracy(clf, FALLBACK_CORPUS, labels) > max(before, 0.6)


def test_bad_trainer_parameters(small_tokenizer):
    clf = HuggingFaceTextClassifier(tiny_bert(len(small_tokenizer)), small_tokenizer, max_length=32)
    with pytest.raises(ValueError, match="adv_steps"):
        FreeLBTrainer(clf, adv_steps=0)
    with pytest.raises(ValueError, match="adv_max_norm"):
        FreeLBTrainer(clf, adv_max_norm=-1)
    with pytest.raises(ValueError, match="adv_swaps"):
        FreeLBTrainer(clf, adv_swaps=-1)
    with pytest.raises(ValueError, match="adv_swaps needs adv_steps >= 2"):
        FreeLBTrainer(clf, adv_swaps=1, adv_steps=1)
    with pytest.raises(ValueError, match="adv_swap_ratio"):
        FreeLBTrainer(clf, adv_swaps=1, adv_swap_ratio=0)
    with pytest.raises(TypeError, match="adv_warmup_steps"):
        FreeLBTrainer(clf, adv_warmup_steps=True)
    with pytest.raises(ValueError, match="eps"):
        EmbeddingFGMTrainer(clf, eps=0)
    with pytest.raises(ValueError, match="norm"):
        EmbeddingFGMTrainer(clf, norm="l1")
    with pytest.raises(ValueError, match="clean_weight"):
        EmbeddingPGDTrainer(clf, clean_weight=2)
    with pytest.raises(TypeError, match="HuggingFaceTextClassifier"):
        TextTrainer(object())
    with pytest.raises(TypeError, match="not text input"):
        TextTrainer(clf, verbose=False).fit([1.5, 2.5], [0, 1])


def test_loader_batches_are_checked_like_fit_data(small_tokenizer):
    """Issue 12: fit_loader used to skip every input check (label 5 died in torch)."""
    clf = HuggingFaceTextClassifier(tiny_bert(len(small_tokenizer)), small_tokenizer, max_length=32)
    ids, mask = clf.encode(FALLBACK_CORPUS[:4])
    bad = torch.utils.data.TensorDataset(torch.as_tensor(ids), torch.as_tensor(mask), torch.tensor([0, 1, 5, 1]))
    with pytest.raises(ValueError, match="batch labels"):
        TextTrainer(clf, verbose=False).fit_loader(torch.utils.data.DataLoader(bad, batch_size=4))
    with pytest.raises(ValueError, match="batch"):
        TextTrainer(clf, verbose=False).fit_loader(torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.as_tensor(ids), torch.tensor([0, 1, 0, 1])), batch_size=4))
