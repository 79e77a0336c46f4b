"""The coordinator's network API: the ``sanny.v1`` gRPC service (``service``), its server
wiring (``server``: health, reflection, auth, TLS, the Vald facade), the Python client
(``client``), the matrix wire format (``wire``), errors <-> status codes (``status``,
``handlers``) and the ``sanny serve`` command (``serve_cli``)."""
