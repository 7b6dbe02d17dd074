"""Serving: TF Serving config and REST clients."""
