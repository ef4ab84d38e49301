"""First-order (HotFlip) whole-word token swaps on a batch, for adversarial training.

Used by :class:`~art_ext_plugins.text.training.freelb.FreeLBTrainer` (``adv_swaps``). Unlike the
:class:`~art_ext_plugins.text.attacks.hotflip.HotFlip` attack, which checks candidates with forward passes
and searches word by word, this is one vectorised step on the gradient the trainer has already
computed: the loss change of replacing the token at ``i`` by ``v`` is estimated as
``(E_v - e_i) . grad_i`` and each sentence takes its best-scoring swaps at once.

Only single-token whole words that HotFlip could change are swapped (letters only, at least two,
not a stop word, not followed by a continuation piece); substitutes are HotFlip's whole-word
vocabulary; special tokens and padding are never touched; at most ``max_ratio`` of a sentence's
real tokens (at least one) change.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from art_ext_plugins.text.model.estimator import HuggingFaceTextClassifier
from art_ext_plugins.text.model.vocabulary import word_vocabulary
from torch import Tensor


class TokenSwapper:
    """Vectorised first-order whole-word swaps (see the module docstring)."""

    def __init__(self, clf: HuggingFaceTextClassifier, stopwords: Iterable[str], max_ratio: float = 0.2) -> None:
        vocab = word_vocabulary(clf)
        n_rows = int(clf.embedding_matrix.shape[0])
        stop = {s.lower() for s in stopwords}
        self.max_ratio = max_ratio
        self.candidates = vocab.spaced
        self.swappable = torch.zeros(n_rows, dtype=torch.bool)
        keep = [i for i in vocab.spaced.tolist() if i < n_rows and vocab.surface(i).lower() not in stop]
        self.swappable[torch.as_tensor(keep, dtype=torch.long)] = True
        self.continues = torch.as_tensor([vocab.continues_word(tok) for tok in vocab.tokens[:n_rows]]
                                         + [False] * max(0, n_rows - len(vocab.tokens)), dtype=torch.bool)

    def _to(self, device: torch.device) -> None:
        if self.swappable.device != device:
            self.swappable = self.swappable.to(device)
            self.continues = self.continues.to(device)
            self.candidates = self.candidates.to(device)

    def eligible(self, ids: Tensor, real: Tensor) -> Tensor:
        """Bool ``(B, L)``: positions holding a swappable single-token word."""
        self._to(ids.device)
        mask = real & self.swappable[ids]
        followed = torch.zeros_like(mask)
        followed[:, :-1] = self.continues[ids[:, 1:]] & real[:, 1:]
        return mask & ~followed

    @torch.no_grad()
    def swap(self, ids: Tensor, real: Tensor, matrix: Tensor, grad: Tensor, n_swaps: int) -> tuple[Tensor, Tensor]:
        """``(new ids, swaps made)``: up to ``n_swaps`` best first-order swaps per sentence.

        :param ids: token ids ``(B, L)``; ``real``: bool ``(B, L)`` real-token mask.
        :param matrix: the input-embedding matrix ``(V, D)``.
        :param grad: gradient of the loss to increase w.r.t. the input embeddings ``(B, L, D)``.
        """
        elig = self.eligible(ids, real)
        new = ids.clone()
        if n_swaps < 1 or not bool(elig.any()):
            return new, torch.zeros((), device=ids.device)
        rows, cols = elig.nonzero(as_tuple=True)
        current = ids[rows, cols]
        g = grad[rows, cols].float()
        scores = g @ matrix[self.candidates].float().T - (g * matrix[current].float()).sum(dim=1, keepdim=True)
        scores[self.candidates[None, :] == current[:, None]] = -torch.inf
        best, arg = scores.max(dim=1)
        by_position = torch.full(ids.shape, -torch.inf, device=ids.device)
        by_position[rows, cols] = best
        substitute = torch.zeros_like(ids)
        substitute[rows, cols] = self.candidates[arg]
        k = min(n_swaps, ids.shape[1])
        top = by_position.topk(k, dim=1)
        allowed = (real.sum(dim=1).float() * self.max_ratio).floor().clamp(min=1).clamp(max=n_swaps)
        keep = (torch.arange(k, device=ids.device)[None, :] < allowed[:, None]) & (top.values > 0)
        batch_rows = torch.arange(ids.shape[0], device=ids.device)[:, None].expand(-1, k)[keep]
        positions = top.indices[keep]
        new[batch_rows, positions] = substitute[batch_rows, positions]
        return new, keep.sum()
