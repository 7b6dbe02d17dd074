"""Training loops: the ranker (and its two-stage blend with KNNBaseline), the two-tower retriever,
optimizers, learning-rate schedules and the weight EMA."""
