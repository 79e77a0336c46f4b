"""run_server(add_services=...): another service on the same port, in health and reflection."""
from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service_fixtures import index, served  # noqa: F401 - index is a fixture


def _echo(server) -> list[str]:
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: request)  # bytes in, bytes out
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Echo", {"Ping": handler})])
    return ["test.Echo"]


def test_added_service_answers_and_is_serving(index):
    with served(index, add_services=[_echo]) as port, grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        assert ch.unary_unary("/test.Echo/Ping")(b"hi", timeout=10) == b"hi"
        health = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service="test.Echo"), timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
