"""The coordinator's network API: the ``sanny.v1`` gRPC service (``service``), its server
wiring (``server``: health, reflection, auth, TLS, the Vald facade), the Python client
(``client``), the matrix wire format (``wire``) and the ``sanny serve`` command
(``serve_cli``). Errors <-> status codes and the handler wrapper are in ``engine/rpc`` (shared
with the Vald facade)."""
