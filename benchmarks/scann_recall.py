"""ScaNN's recall@k against exact top-k, run in an interpreter that has ``scann``.

ScaNN is the documented approximate alternative for very large catalogues, never part of the
export: its custom op does not load in stock TF Serving. Its current wheels want numpy 2 and a
newer protobuf than TF 2.16's, so it runs in its own virtualenv (numpy + scann only);
``benchmarks/scale.py index --scann-python VENV/bin/python`` calls this file with ``.npy`` inputs
(the catalogue embeddings, the queries, the exact top-k rows) and reads one JSON line back.

  python benchmarks/scann_recall.py EMB.npy QUERIES.npy EXACT_ROWS.npy K
"""

import json
import sys
import time

import numpy as np


def recall(emb: np.ndarray, queries: np.ndarray, exact_rows: np.ndarray, k: int,
           searched=(0.05, 0.2)) -> dict:
    """Per share of leaves searched: recall@k, build and batch search time."""
    import scann

    n = len(emb)
    leaves = max(int(np.sqrt(n)), 1)
    out = {"leaves": leaves, "scann_version": getattr(scann, "__version__", "")}
    for share in searched:
        start = time.perf_counter()
        # ScaNN's recommended starting point: a k-means tree of ~sqrt(N) leaves, anisotropic
        # 4-bit quantisation (2 dimensions per code), exact re-scoring of the best 4k.
        searcher = (scann.scann_ops_pybind.builder(emb, k, "dot_product")
                    .tree(num_leaves=leaves, num_leaves_to_search=max(int(leaves * share), 1),
                          training_sample_size=min(n, 250_000))
                    .score_ah(2, anisotropic_quantization_threshold=0.2).reorder(4 * k).build())
        build = time.perf_counter() - start
        searcher.search_batched(queries)  # warm
        start = time.perf_counter()
        neighbours, _ = searcher.search_batched(queries)
        search = time.perf_counter() - start
        hits = [len(set(a.tolist()) & set(b.tolist())) / k for a, b in zip(neighbours, exact_rows)]
        out[f"leaves_searched_{share}"] = {
            "recall_at_k": round(float(np.mean(hits)), 4), "build_seconds": round(build, 1),
            "search_ms_per_batch": round(1000 * search, 1)}
    return out


if __name__ == "__main__":
    emb, queries, exact = (np.load(p) for p in sys.argv[1:4])
    print(json.dumps(recall(emb, queries, exact, int(sys.argv[4]))))
