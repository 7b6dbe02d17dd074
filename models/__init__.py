"""Keras ranking and retrieval models: layers, blocks, the ranking core, export."""
