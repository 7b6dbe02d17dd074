"""TFX adapters: the Transform/Trainer modules (``preprocessing_fn``, ``run_fn``s) and the custom components; each calls library code."""
