"""Evaluation: metrics (AUC, GAUC, retrieval recall/NDCG), the TFMA config and custom metrics, the
retrieval evaluation, the MLMD reader and the evaluation report."""
