"""HTTP routes over ``atlas``: the data API, exports and datapacks, security headers and compression.

Nothing here imports the Dash UI (``ui``, ``callbacks``, ``layers``).
"""
