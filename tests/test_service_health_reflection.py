"""Standard grpc.health.v1 health reports SERVING; server reflection lists the services and
describes sanny.v1.Sanny."""
from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from sanny.engine.api.service import SERVICE_NAME

from service_fixtures import index, port  # noqa: F401


def test_health_serving(port):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        for service in ("", SERVICE_NAME):
            r = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert r.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_services(port):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        db = ProtoReflectionDescriptorDatabase(ch)
        services = set(db.get_services())
        assert {SERVICE_NAME, "grpc.health.v1.Health"} <= services
        assert any("ServerReflection" in s for s in services)
        fd = db.FindFileContainingSymbol(SERVICE_NAME)
        assert fd.package == "sanny.v1"
        methods = {m.name for s in fd.service for m in s.method}
        assert {"Insert", "StreamInsert", "Search", "SearchByKey", "StreamSearch", "GetVector",
                "Exists", "IndexInfo", "Save"} <= methods
