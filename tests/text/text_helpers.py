"""Helpers of the text tests: a WordPiece tokenizer trained in-test, tiny random models, a tiny
BERT trained on real MR sentences on the trainer core. Nothing downloads."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
FALLBACK_CORPUS = [
    "a gorgeous , witty , seductive movie .",
    "the film is dull and lifeless , a tedious waste of time .",
    "an absolute delight from start to finish",
    "bad acting and a boring plot make it unbearable",
    "one of the best films of the year , smart and moving",
    "it's so laddish and juvenile , only teenage boys could possibly find it funny .",
    "unbelievably beautiful photography and a great score",
    "predictable , clumsy and painfully slow",
] * 4


def make_tokenizer(corpus: list[str], vocab_size: int = 2000) -> Any:
    """A WordPiece tokenizer whose vocabulary is the corpus's most frequent words (ties broken
    alphabetically) plus every letter alone and as ``##`` piece: rarer words split into letters.
    Deterministic in every process (a trained WordPiece vocabulary is not: its ties follow hash
    order)."""
    import re
    from collections import Counter

    counts = Counter(w for text in corpus for w in re.findall(r"\w+|[^\w\s]", text.lower()) if w.isascii())
    n_words = max(0, vocab_size - len(SPECIALS) - 52)
    words = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n_words]]
    return fixed_tokenizer(words)


def fixed_tokenizer(corpus: list[str]) -> Any:
    """A WordPiece tokenizer with a vocabulary fixed by ``corpus`` alone (its lower-cased words and
    punctuation, plus every letter alone and as ``##`` piece): the same ids in every process (a
    trained WordPiece vocabulary can differ between processes where frequencies tie)."""
    import re
    import string

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    # ASCII only: the normalizer strips accents, so an accented entry could never be produced
    words = list(dict.fromkeys(w for text in corpus for w in re.findall(r"\w+|[^\w\s]", text.lower()) if w.isascii()))
    letters = list(string.ascii_lowercase)
    vocab = list(dict.fromkeys(SPECIALS + sorted(words) + letters + [f"##{c}" for c in letters]))
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


def tiny_bert(vocab_size: int, hidden: int = 32, layers: int = 2, seed: int = 0, max_pos: int = 128,
              num_labels: int = 2) -> Any:
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
        intermediate_size=2 * hidden, max_position_embeddings=max_pos, num_labels=num_labels,
        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.0, pad_token_id=0,
    )
    return BertForSequenceClassification(config)


def tiny_distilbert(vocab_size: int, hidden: int = 32, layers: int = 2, seed: int = 0) -> Any:
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    torch.manual_seed(seed)
    config = DistilBertConfig(
        vocab_size=vocab_size, dim=hidden, n_layers=layers, n_heads=2, hidden_dim=2 * hidden,
        max_position_embeddings=128, num_labels=2, dropout=0.1, attention_dropout=0.0, pad_token_id=0,
        seq_classif_dropout=0.1,
    )
    return DistilBertForSequenceClassification(config)



def train_base_model(tokenizer, split):
    """A 1-layer BERT (hidden 48) trained from scratch for 4 epochs on the split's 1,600 sentences:
    the "pretrained" model every test model is fine-tuned from (about 61% on the 200 test sentences)."""
    from art_ext_plugins.text.model.estimator import HuggingFaceTextClassifier
    from art_ext_plugins.text.training.trainers import TextTrainer

    clf = HuggingFaceTextClassifier(tiny_bert(len(tokenizer), hidden=48, layers=1, seed=0), tokenizer, max_length=48,
                                    batch_size=64)
    TextTrainer(clf, lr=2e-3, nb_epochs=4, batch_size=32, seed=0, verbose=False).fit(split[0], split[1])
    return clf


def finetune(base, split, trainer: str = "standard", epochs: int = 2, **params):
    """A copy of ``base`` fine-tuned ``epochs`` more epochs (lr 2e-3) with the clean or the FreeLB trainer
    (models compared in the tests have the same training budget)."""
    import copy

    from art_ext_plugins.text.model.estimator import HuggingFaceTextClassifier
    from art_ext_plugins.text.training.freelb import FreeLBTrainer
    from art_ext_plugins.text.training.trainers import TextTrainer

    clf = HuggingFaceTextClassifier(copy.deepcopy(base.model), base.tokenizer, max_length=48, batch_size=64)
    cls = TextTrainer if trainer == "standard" else FreeLBTrainer
    cls(clf, lr=2e-3, nb_epochs=epochs, batch_size=32, seed=0, verbose=False, **params).fit(split[0], split[1])
    return clf


def tiny_sentence_encoder(folder, tokenizer) -> str:
    """A sentence-transformers model (a random 1-layer BERT plus mean pooling) saved to ``folder``:
    loads offline like any local sentence-transformers folder."""
    from sentence_transformers import SentenceTransformer, models

    bert_dir = folder / "bert"
    tiny_bert(len(tokenizer), hidden=32, layers=1, seed=3).bert.save_pretrained(bert_dir)
    tokenizer.save_pretrained(bert_dir)
    word = models.Transformer(str(bert_dir), max_seq_length=64)
    pooling = models.Pooling(word.get_word_embedding_dimension(), pooling_mode="mean")
    st_dir = folder / "st"
    SentenceTransformer(modules=[word, pooling], device="cpu").save(str(st_dir))
    return str(st_dir)


def accuracy(clf, texts, labels) -> float:
    return float((clf.predict(texts).argmax(1) == np.asarray(labels)).mean())


def assert_hotflip_drop(standard, trained, texts, labels, name: str, *, drop: float = 0.06,
                        clean_tolerance: float = 0.05) -> None:
    """``trained`` keeps its clean accuracy within ``clean_tolerance`` of ``standard``'s and HotFlip
    (20% of the words) succeeds at least ``drop`` less often on it."""
    from art_ext_plugins.text.attacks.hotflip import HotFlip

    clean_std, clean_new = accuracy(standard, texts, labels), accuracy(trained, texts, labels)
    assert clean_new >= clean_std - clean_tolerance, (clean_std, clean_new)
    rate_std = HotFlip(standard, max_perturb_ratio=0.2).attack_text(texts, labels).success_rate
    rate_new = HotFlip(trained, max_perturb_ratio=0.2).attack_text(texts, labels).success_rate
    print(f"HotFlip success: standard {rate_std:.3f}, {name} {rate_new:.3f}")
    assert rate_new <= rate_std - drop, (rate_std, rate_new)
