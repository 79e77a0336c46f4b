"""What both gRPC rooms (``engine/api``: ``sanny.v1``; ``engine/vald``: the Vald facade) need,
below both: errors <-> status codes (``status``) and the wrapper around every handler
(``handlers``: deadline, cancellation, error mapping)."""
