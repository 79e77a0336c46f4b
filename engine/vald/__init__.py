"""The Vald-compatible ``vald.v1`` services (see ``facade`` for their semantics): ``facade``
holds what both halves share, ``search`` the Search/Object servicers, ``write`` the
Insert/Update/Upsert/Remove ones. The servicers import ``vald-client-python``, an optional
extra, so they are imported only when the services are added."""
from __future__ import annotations

import logging

import grpc

from . import facade
from .facade import available

log = logging.getLogger(__name__)

__all__ = ["add_vald_services", "available"]


def add_vald_services(server: grpc.Server, index, *, address: str = "", name: str | None = None,
                      search_chunk: int = 512, limits=None, budget=None) -> list[str]:
    """Serve the vald.v1 facade on ``server``; returns the full service names (for reflection),
    or [] (and a log line) when ``vald-client-python`` is not installed."""
    if not facade.available():
        log.info("vald.v1 facade not served: vald-client-python unavailable (%s)", facade.IMPORT_ERROR)
        return []
    from vald.v1.vald import (insert_pb2, insert_pb2_grpc, object_pb2, object_pb2_grpc, remove_pb2,
                              remove_pb2_grpc, search_pb2, search_pb2_grpc, update_pb2, update_pb2_grpc,
                              upsert_pb2, upsert_pb2_grpc)

    from .search import ValdObject, ValdSearch
    from .write import ValdInsert, ValdRemove, ValdUpdate, ValdUpsert

    shared = facade.Facade(index, name, facade.listen_ips(address), search_chunk, limits, budget)
    names = []
    for pb2, pb2_grpc, service, cls in [(search_pb2, search_pb2_grpc, "Search", ValdSearch),
                                        (object_pb2, object_pb2_grpc, "Object", ValdObject),
                                        (insert_pb2, insert_pb2_grpc, "Insert", ValdInsert),
                                        (update_pb2, update_pb2_grpc, "Update", ValdUpdate),
                                        (upsert_pb2, upsert_pb2_grpc, "Upsert", ValdUpsert),
                                        (remove_pb2, remove_pb2_grpc, "Remove", ValdRemove)]:
        getattr(pb2_grpc, f"add_{service}Servicer_to_server")(cls(shared), server)
        names.append(pb2.DESCRIPTOR.services_by_name[service].full_name)  # "vald.v1.Search", ...
    return names
