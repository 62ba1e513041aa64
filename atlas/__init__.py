"""The domain of Neighbourhood Atlas, without Dash or HTTP routes: settings, the store (the only DuckDB
user), classification, palettes, the URL state, the one view function, compare, exports and datapacks.

Nothing here imports ``web``, ``ui``, ``callbacks`` or ``layers``; importing this package imports nothing.
"""
