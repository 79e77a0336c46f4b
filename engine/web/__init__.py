"""``sanny web``: a page to search an index by image (drop, upload or click a result).

``app`` is the Flask application (JSON endpoints + one page), ``backend`` puts a running
server (``Client``) and an embedded ``Index`` behind one interface, ``uploads`` holds
everything that touches untrusted bytes and paths (size / pixel limits, decoding, the
images-root confinement of thumbnails), ``cli`` starts it under waitress, ``browser`` starts
the system's headless Chromium for the tests and ``screenshot``. Needs the ``web`` and ``cnn``
extras; imports nothing heavy until used.
"""
