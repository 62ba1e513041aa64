"""The Dash pages (``dash.register_page``): the explorer at ``/`` and the embeddable map at ``/embed``."""
