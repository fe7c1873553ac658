"""The stand-in's gRPC front end: the same state and calls as REST, for ``transport="grpc"``.

No generated servicer code is needed: generic handlers with the library's own message
(de)serializers. Errors carry a ``google.rpc.Status`` with details (ErrorInfo, BadRequest),
so the client parses them exactly as it parses Cloud Run's.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from google.cloud import run_v2
from google.longrunning import operations_pb2
from google.protobuf import json_format
from google.rpc import status_pb2
from grpc_status import rpc_status

from . import api
from .server import call
from .state import ApiError, CloudRunState, RequestRecord

Handler = Callable[[Any, grpc.ServicerContext], Any]


class GrpcServer:
    """A gRPC server on 127.0.0.1 with a free port."""

    def __init__(self, state: CloudRunState) -> None:
        self.state = state
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"127.0.0.1:{port}"
        op = operations_pb2.Operation.SerializeToString
        handlers = {
            "google.cloud.run.v2.Services": {
                "GetService": self._rpc(
                    "GetService", run_v2.GetServiceRequest, run_v2.Service.serialize,
                    lambda r: api.get_service(state, r.name, tick=True),
                ),
                "UpdateService": self._rpc(
                    "UpdateService", run_v2.UpdateServiceRequest, op,
                    lambda r: api.operation_pb(api.update_service(
                        state, r.service.name, r.service,
                        list(r.update_mask.paths) if "update_mask" in r else None,
                        r.validate_only,
                    )),
                ),
            },
            "google.cloud.run.v2.Revisions": {
                "GetRevision": self._rpc(
                    "GetRevision", run_v2.GetRevisionRequest, run_v2.Revision.serialize,
                    lambda r: api.get_revision(state, r.name),
                ),
                "ListRevisions": self._rpc(
                    "ListRevisions", run_v2.ListRevisionsRequest,
                    run_v2.ListRevisionsResponse.serialize,
                    lambda r: api.list_revisions(state, r.parent, r.page_size, r.page_token),
                ),
                "DeleteRevision": self._rpc(
                    "DeleteRevision", run_v2.DeleteRevisionRequest, op,
                    lambda r: api.operation_pb(
                        api.delete_revision(state, r.name, r.etag, r.validate_only)
                    ),
                ),
            },
            "google.longrunning.Operations": {
                "GetOperation": grpc.unary_unary_rpc_method_handler(
                    self._wrap("GetOperation", lambda r: api.operation_pb(
                        api.get_operation(state, r.name)
                    )),
                    request_deserializer=operations_pb2.GetOperationRequest.FromString,
                    response_serializer=operations_pb2.Operation.SerializeToString,
                ),
            },
        }  # fmt: skip
        self.server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(name, h) for name, h in handlers.items()]
        )

    def _rpc(
        self,
        rpc: str,
        request_type: Any,
        serializer: Callable[[Any], bytes],
        fn: Callable[[Any], Any],
    ) -> Any:
        return grpc.unary_unary_rpc_method_handler(
            self._wrap(rpc, fn),
            request_deserializer=request_type.deserialize,
            response_serializer=serializer,
        )

    def _wrap(self, rpc: str, fn: Callable[[Any], Any]) -> Handler:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            pb = request if hasattr(request, "DESCRIPTOR") else type(request).pb(request)
            with self.state.lock:
                self.state.requests.append(
                    RequestRecord(
                        rpc, "GRPC", rpc, {}, json_format.MessageToDict(pb),
                        {k: str(v) for k, v in context.invocation_metadata()},
                    )
                )  # fmt: skip
            try:
                return call(self.state, rpc, lambda: fn(request))
            except ApiError as err:
                code = getattr(grpc.StatusCode, err.status, grpc.StatusCode.UNKNOWN)
                status = status_pb2.Status(
                    code=code.value[0], message=err.message,
                    details=[api.pack_pb(d) for d in err.details],
                )  # fmt: skip
                context.abort_with_status(rpc_status.to_status(status))

        return handle

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop(grace=None)
