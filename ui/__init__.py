"""The Dash UI's layouts and component ids (``ui.ids``, defined once); pages are in ``ui/pages``.

Imports ``atlas`` and ``layers``; never ``web``.
"""
