"""The provider relay (engine.provider_relay) against a stand-in provider: a gRPC server on a
unix socket that answers with what it was sent. Every call passes through unchanged, errors and
streams included, and only the schema's answer gains the capability. That Terraform then reads
the schema once per process is tests/e2e/test_provider_process.py, with the real provider."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from bbws_infra.engine import provider_relay
from bbws_infra.engine.provider_relay import CAPABILITY, SCHEMA_METHOD

SCHEMA = b"\x0a\x03abc" * 300_000  # a message of about 1.5 MB, like the provider's schema


def _raw(data: bytes) -> bytes:
    return data


class StandIn(grpc.GenericRpcHandler):
    """Answers every unary call with the method's name and the request; GetSchema with SCHEMA;
    `/test/Fail` with NOT_FOUND; streams with the request's bytes one at a time (or failing
    after the first when the request says so); records cancelled calls."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self.release = threading.Event()

    def service(self, details: grpc.HandlerCallDetails
                ) -> grpc.RpcMethodHandler[bytes, bytes]:
        method = details.method

        def unary(request: bytes, context: grpc.ServicerContext) -> bytes:
            if method == SCHEMA_METHOD:
                return SCHEMA
            if method == "/test/Fail":
                context.abort(grpc.StatusCode.NOT_FOUND, "no such resource")
            if method == "/test/Hang":
                context.add_callback(self.cancelled.set)
                self.release.wait(10)
                return b""
            return method.encode() + b"|" + request

        def server_stream(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
            for index, byte in enumerate(request):
                if index == 1 and request.startswith(b"!"):
                    context.abort(grpc.StatusCode.UNAVAILABLE, "provider went away")
                yield bytes([byte])

        def bidi(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
            for request in requests:
                yield request[::-1]

        if method in provider_relay.SERVER_STREAMS:
            return grpc.unary_stream_rpc_method_handler(server_stream, _raw, _raw)
        if method in provider_relay.BIDI_STREAMS:
            return grpc.stream_stream_rpc_method_handler(bidi, _raw, _raw)
        return grpc.unary_unary_rpc_method_handler(unary, _raw, _raw)


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[tuple[StandIn, str]]:
    stand_in = StandIn()
    server = grpc.server(ThreadPoolExecutor(max_workers=8), handlers=[stand_in],
                         options=[("grpc.max_send_message_length", 64 << 20)])
    socket = str(tmp_path / "provider.sock")
    assert server.add_insecure_port(f"unix:{socket}")
    server.start()
    yield stand_in, socket
    stand_in.release.set()
    server.stop(grace=None)


@pytest.fixture
def relay(provider: tuple[StandIn, str], tmp_path: Path
          ) -> Iterator[tuple[provider_relay.Relay, grpc.Channel]]:
    # as provider 3.39 prints it in its debug mode (no ProtocolVersion: 5)
    reattach = json.dumps({"registry.terraform.io/hashicorp/aws": {
        "Protocol": "grpc", "Pid": 4242, "Test": True,
        "Addr": {"Network": "unix", "String": provider[1]}}})
    started, pointed = provider_relay.start(reattach, str(tmp_path))
    assert started is not None
    config = json.loads(pointed)["registry.terraform.io/hashicorp/aws"]
    # only the address changes: Terraform still sees the provider's own process
    assert config == {"Protocol": "grpc", "Pid": 4242, "Test": True,
                      "Addr": {"Network": "unix", "String": str(tmp_path / "relay.sock")}}
    channel = grpc.insecure_channel(f"unix:{config['Addr']['String']}",
                                    options=[("grpc.max_receive_message_length", 64 << 20)])
    yield started, channel
    channel.close()
    started.stop()


def test_every_call_passes_through_unchanged_and_the_schema_gains_the_capability(relay):
    started, channel = relay
    configure = channel.unary_unary("/tfplugin5.Provider/Configure", _raw, _raw)
    request = bytes(range(256)) * 40
    assert configure(request) == b"/tfplugin5.Provider/Configure|" + request
    assert started.schema_reads == 0
    schema = channel.unary_unary(SCHEMA_METHOD, _raw, _raw)
    # the answer as the provider sent it, then server_capabilities (field 6) holding
    # get_provider_schema_optional (its field 2) = true, which protobuf merges into the rest
    assert schema(b"") == SCHEMA + CAPABILITY
    assert CAPABILITY == b"\x32\x02\x10\x01"
    assert schema(b"") == SCHEMA + CAPABILITY
    assert started.schema_reads == 2


def test_a_provider_error_reaches_terraform_as_the_provider_sent_it(relay):
    _, channel = relay
    with pytest.raises(grpc.RpcError) as failed:
        channel.unary_unary("/test/Fail", _raw, _raw)(b"x")
    assert (failed.value.code(), failed.value.details()) == (grpc.StatusCode.NOT_FOUND,
                                                             "no such resource")


def test_streams_pass_through_both_ways_and_end_as_the_provider_ends_them(relay):
    _, channel = relay
    stdio = channel.unary_stream("/plugin.GRPCStdio/StreamStdio", _raw, _raw)
    assert list(stdio(b"abc")) == [b"a", b"b", b"c"]
    answers = stdio(b"!xyz")
    assert next(answers) == b"!"
    with pytest.raises(grpc.RpcError) as ended:
        next(answers)
    assert ended.value.code() == grpc.StatusCode.UNAVAILABLE  # go-plugin's EOF, as before
    broker = channel.stream_stream("/plugin.GRPCBroker/StartStream", _raw, _raw)
    assert list(broker(iter([b"one", b"two"]))) == [b"eno", b"owt"]


def test_a_call_terraform_gives_up_on_is_cancelled_at_the_provider(relay, provider):
    _, channel = relay
    pending = channel.unary_unary("/test/Hang", _raw, _raw).future(b"")
    assert not provider[0].cancelled.wait(0.3)
    pending.cancel()
    assert provider[0].cancelled.wait(5)


@pytest.mark.parametrize("reattach", [
    json.dumps({"registry.terraform.io/hashicorp/aws": {
        "Addr": {"Network": "tcp", "String": "127.0.0.1:1234"}}}),
    json.dumps({"registry.terraform.io/hashicorp/aws": {  # another protocol's calls
        "ProtocolVersion": 6, "Addr": {"Network": "unix", "String": "/tmp/provider.sock"}}}),
    json.dumps({"registry.terraform.io/hashicorp/aws": {}}),
    "not json",
])
def test_a_relay_that_cannot_start_leaves_terraform_pointed_at_the_provider(reattach, tmp_path):
    assert provider_relay.start(reattach, str(tmp_path)) == (None, reattach)


def test_a_socket_that_cannot_be_made_leaves_terraform_pointed_at_the_provider(tmp_path):
    reattach = json.dumps({"registry.terraform.io/hashicorp/aws": {
        "Addr": {"Network": "unix", "String": str(tmp_path / "provider.sock")}}})
    assert provider_relay.start(reattach, str(tmp_path / "missing" / "folder")) == \
        (None, reattach)
