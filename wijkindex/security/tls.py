"""gRPC mutual-TLS credentials and channel options for every role."""

from __future__ import annotations

import grpc

from wijkindex.security.pki import PartyCredentials

MAX_MESSAGE = 64 * 1024 * 1024
GRPC_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
]


def _read(creds: PartyCredentials) -> tuple[bytes, bytes, bytes]:
    return creds.cert_path.read_bytes(), creds.key_path.read_bytes(), creds.ca_path.read_bytes()


def server_credentials(creds: PartyCredentials) -> grpc.ServerCredentials:
    """Server side: present our certificate, require and verify the client's against the CA."""
    cert, key, ca = _read(creds)
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=True)


def channel_credentials(creds: PartyCredentials) -> grpc.ChannelCredentials:
    cert, key, ca = _read(creds)
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


def secure_channel(address: str, creds: PartyCredentials) -> grpc.Channel:
    """A channel to the aggregator; its certificate carries SANs for the names it is reached by."""
    return grpc.secure_channel(address, channel_credentials(creds), options=GRPC_OPTIONS)
