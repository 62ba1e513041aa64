"""Dash callbacks of the explorer, one module per feature; component ids in ``callbacks.ids``."""
