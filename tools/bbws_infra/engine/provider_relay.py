"""The AWS provider's schema read once per Terraform process, not once per graph walk.

Terraform keeps a provider's schema in a process-wide cache, but a new connection to the
provider (every graph walk opens one) reads from that cache only when the provider says it
may: the `get_provider_schema_optional` server capability, which plugin SDKs built since
2023 announce. Provider 3.39 predates it, so a plan and its `show -json` asked for the whole
schema (some 800 resource types) three times, an apply with its verification plan once more
for each of their graph walks, each time costing the provider and Terraform about a tenth of
a second of CPU to encode, send and decode.

A batch with a shared provider process (provider_process) puts this relay between Terraform
and the provider, in the worker's own process: every call passes through unchanged, byte for
byte, in both directions, and only the schema's answer gets the capability appended (one
field at the end of the message, which protobuf merges into the answer's server
capabilities). Terraform then asks once per process and reuses that answer, which is the
same schema from the same process. The capability promises that the provider needs no schema
call before its other calls; SDK v2 providers never did (the schema is compiled into them),
and newer builds of the same SDK announce it for every provider.

The relay listens on a socket in the batch's private folder (mode 0700), beside the
provider's, and ends with the batch. It counts the schema answers it passed on, which the
benchmark reports per component. BBWS_PROVIDER_PROCESS=direct attaches Terraform to the
provider without it. See docs/decisions/deploy-speed.md.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # grpc loads only in a worker that relays
    import grpc

# tfplugin5's GetProviderSchema.Response: server_capabilities (field 6, a message) with
# get_provider_schema_optional (its field 2, a bool) set.
CAPABILITY = bytes([6 << 3 | 2, 2, 2 << 3 | 0, 1])
SCHEMA_METHOD = "/tfplugin5.Provider/GetSchema"
# The streaming calls of go-plugin and of the protocol; every other call is unary.
SERVER_STREAMS = frozenset({"/plugin.GRPCStdio/StreamStdio", "/tfplugin5.Provider/ReadState"})
BIDI_STREAMS = frozenset({"/plugin.GRPCBroker/StartStream", "/tfplugin5.Provider/WriteState"})
# The schema alone is several MB; Terraform allows 64 MB.
_MAX_MESSAGE = 256 * 1024 * 1024
_OPTIONS = [("grpc.max_receive_message_length", _MAX_MESSAGE),
            ("grpc.max_send_message_length", _MAX_MESSAGE)]
# Terraform calls the provider for up to 10 resources at once, and two streams stay open for
# the whole batch (the provider's output, go-plugin's broker).
_THREADS = 32


def _raw(data: bytes) -> bytes:
    return data


class _Call(Protocol):
    def cancel(self) -> bool: ...


def _cancel(call: _Call) -> None:
    """Cancel the provider's side of a call whose caller went away."""
    call.cancel()


class Relay:
    """A gRPC server on `socket` that passes every call on to the provider at `upstream`."""

    def __init__(self, upstream: str, socket: Path) -> None:
        import grpc

        self.socket = socket
        self._lock = threading.Lock()
        self._schema_reads = 0
        # grpc asks for a method's handler at every call: each is made once
        self._handlers: dict[str, grpc.RpcMethodHandler[bytes, bytes]] = {}
        # never through a proxy a user's HTTPS_PROXY names (Terraform's environment keeps it)
        self._channel = grpc.insecure_channel(f"unix:{upstream}",
                                              options=[*_OPTIONS, ("grpc.enable_http_proxy", 0)])
        relay = self

        class _Every(grpc.GenericRpcHandler):
            def service(self, details: grpc.HandlerCallDetails
                        ) -> grpc.RpcMethodHandler[bytes, bytes]:
                method = details.method
                found = relay._handlers.get(method)
                if found is None:  # two first calls at once make two: either is right
                    found = relay._handlers[method] = relay._handler(method)
                return found

        self._server = grpc.server(ThreadPoolExecutor(max_workers=_THREADS),
                                   handlers=[_Every()], options=_OPTIONS)
        try:
            if not self._server.add_insecure_port(f"unix:{socket}"):
                raise RuntimeError(f"no port at {socket}")
        except RuntimeError as error:  # grpc's way of saying it could not bind
            self._channel.close()
            raise OSError(f"the provider relay could not listen on {socket}") from error
        self._server.start()

    @property
    def schema_reads(self) -> int:
        """How many schema answers the relay has passed on so far."""
        with self._lock:
            return self._schema_reads

    def stop(self) -> None:
        self._server.stop(grace=None)
        self._channel.close()

    def _handler(self, method: str) -> grpc.RpcMethodHandler[bytes, bytes]:
        import grpc

        if method in SERVER_STREAMS:
            upstream_stream = self._channel.unary_stream(method, _raw, _raw)

            def server_stream(request: bytes, context: grpc.ServicerContext
                              ) -> Iterator[bytes]:
                answers = upstream_stream(request)
                context.add_callback(lambda: _cancel(answers))
                yield from _passed(answers, context)

            return grpc.unary_stream_rpc_method_handler(server_stream, _raw, _raw)
        if method in BIDI_STREAMS:
            upstream_bidi = self._channel.stream_stream(method, _raw, _raw)

            def both_streams(requests: Iterator[bytes], context: grpc.ServicerContext
                             ) -> Iterator[bytes]:
                answers = upstream_bidi(requests)
                context.add_callback(lambda: _cancel(answers))
                yield from _passed(answers, context)

            return grpc.stream_stream_rpc_method_handler(both_streams, _raw, _raw)
        upstream_unary = self._channel.unary_unary(method, _raw, _raw)

        def unary(request: bytes, context: grpc.ServicerContext) -> bytes:
            pending = upstream_unary.future(request)
            context.add_callback(lambda: _cancel(pending))  # Terraform gave up on the call
            try:
                answer = pending.result()
            except grpc.RpcError as error:
                context.abort(error.code(), error.details() or "")
            if method != SCHEMA_METHOD:
                return answer
            with self._lock:
                self._schema_reads += 1
            return answer + CAPABILITY

        return grpc.unary_unary_rpc_method_handler(unary, _raw, _raw)


def _passed(answers: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
    """A stream's answers as the provider sends them; its end or failure as it ends there."""
    import grpc

    try:
        yield from answers
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.CANCELLED:
            context.abort(error.code(), error.details() or "")


def start(reattach: str, folder: str) -> tuple[Relay | None, str]:
    """A relay in front of the one provider TF_REATTACH_PROVIDERS names (protocol 5, a unix
    socket), and the value that points Terraform at it; (None, reattach) when it cannot start
    there (the batch then attaches to the provider directly, only slower)."""
    try:
        providers = json.loads(reattach)
        ((address, config),) = providers.items()
        target = config["Addr"]
        # protocol 5 only (absent means 5, as 3.39 prints it): the calls and streams of
        # protocol 6 are other ones
        if target.get("Network") != "unix" or config.get("ProtocolVersion", 5) != 5:
            return None, reattach
        relay = Relay(str(target["String"]), Path(folder) / "relay.sock")
    except (ImportError, OSError, ValueError, KeyError, TypeError, AttributeError):
        return None, reattach
    return relay, json.dumps({address: {**config, "Addr": {"Network": "unix",
                                                          "String": str(relay.socket)}}})
