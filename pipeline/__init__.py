"""The TFX pipeline factory and its runners."""
