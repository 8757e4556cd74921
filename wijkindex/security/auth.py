"""Role-based authorisation of every RPC from the TLS-verified peer certificate (default deny)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Mapping

import grpc

from wijkindex.errors import AuthorisationError, CertificateError
from wijkindex.security.pki import Identity, identity_from_certificate

HEALTH = frozenset({"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"})
Audit = Callable[[str, "Identity | None", str, str], None]


if TYPE_CHECKING:
    from wijkindex.security.revocation import RevocationList


def peer_identity(context: grpc.ServicerContext) -> Identity | None:
    """The identity in the peer certificate that the TLS handshake verified, if any."""
    certs = context.auth_context().get("x509_pem_cert")
    if not certs:
        return None
    try:
        return identity_from_certificate(certs[0])
    except (CertificateError, ValueError):
        return None


def current_identity(context: grpc.ServicerContext) -> Identity:
    identity = peer_identity(context)
    if identity is None:
        raise AuthorisationError("no verified wijkindex identity on this call")
    return identity


class RoleAuthInterceptor(grpc.ServerInterceptor):
    """Checks each call's role against ``policy`` inside the handler, where the peer is known."""

    def __init__(self, policy: Mapping[str, frozenset[str]], audit: Audit | None = None,
                 revoked: "RevocationList | None" = None) -> None:
        self.policy = dict(policy)
        self.audit = audit
        self.revoked = revoked

    def _check(self, method: str, context: grpc.ServicerContext) -> None:
        identity = peer_identity(context)
        if identity is None:
            self._log(method, None, "denied", "no verified identity")
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "a wijkindex client certificate is required")
        try:
            revoked = self.revoked is not None and self.revoked.is_revoked(context.auth_context()["x509_pem_cert"][0])
        except CertificateError as exc:  # the list expired or is unreadable: refuse every call until it is fixed
            self._log(method, identity, "denied", f"revocation list unusable: {exc.message}")
            context.abort(grpc.StatusCode.UNAVAILABLE,
                          f"the aggregator cannot check revocations ({exc.message}); try again later")
        if revoked:
            self._log(method, identity, "denied", "certificate revoked")
            context.abort(grpc.StatusCode.UNAUTHENTICATED,
                          f"the certificate of {identity.uri} is revoked by the federation CA")  # type: ignore[union-attr]
        if method in HEALTH:
            return
        allowed = self.policy.get(method)
        if allowed is None or identity.role not in allowed:  # type: ignore[union-attr]
            need = " or ".join(sorted(allowed)) if allowed else "no role (unknown method)"
            self._log(method, identity, "denied", f"role {identity.role} may not call; needs {need}")  # type: ignore[union-attr]
            context.abort(grpc.StatusCode.PERMISSION_DENIED,
                          f"{identity.uri} may not call {method}: needs role {need}")  # type: ignore[union-attr]
        self._log(method, identity, "allowed", "")

    def _log(self, method: str, identity: Identity | None, outcome: str, detail: str) -> None:
        if self.audit:
            self.audit(method, identity, outcome, detail)

    def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        check = self._check

        def wrap(inner):  # type: ignore[no-untyped-def]
            def guarded(request, context):  # type: ignore[no-untyped-def]
                check(method, context)
                return inner(request, context)
            return guarded

        return wrap_handler(handler, wrap)


def wrap_handler(handler: grpc.RpcMethodHandler, wrap: Callable) -> grpc.RpcMethodHandler:  # type: ignore[type-arg]
    """The same method handler with its behaviour function passed through ``wrap``, whatever its kind."""
    kinds = (("unary_unary", grpc.unary_unary_rpc_method_handler), ("unary_stream", grpc.unary_stream_rpc_method_handler),
             ("stream_unary", grpc.stream_unary_rpc_method_handler))
    for attr, make in kinds:
        if getattr(handler, attr):
            return make(wrap(getattr(handler, attr)), handler.request_deserializer, handler.response_serializer)
    return grpc.stream_stream_rpc_method_handler(wrap(handler.stream_stream), handler.request_deserializer,
                                                 handler.response_serializer)
