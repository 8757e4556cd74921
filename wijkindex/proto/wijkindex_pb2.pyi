from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Ack(_message.Message):
    __slots__ = ("ok", "message")
    OK_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    message: str
    def __init__(self, ok: _Optional[bool] = ..., message: _Optional[str] = ...) -> None: ...

class SubmitRoundRequest(_message.Message):
    __slots__ = ("spec_toml", "spec_signature")
    SPEC_TOML_FIELD_NUMBER: _ClassVar[int]
    SPEC_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    spec_toml: str
    spec_signature: bytes
    def __init__(self, spec_toml: _Optional[str] = ..., spec_signature: _Optional[bytes] = ...) -> None: ...

class SubmitRoundReply(_message.Message):
    __slots__ = ("round_id",)
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    round_id: str
    def __init__(self, round_id: _Optional[str] = ...) -> None: ...

class GetRoundRequest(_message.Message):
    __slots__ = ("round_id",)
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    round_id: str
    def __init__(self, round_id: _Optional[str] = ...) -> None: ...

class CancelRoundRequest(_message.Message):
    __slots__ = ("round_id", "reason")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    round_id: str
    reason: str
    def __init__(self, round_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ProposeCellsRequest(_message.Message):
    __slots__ = ("spec_toml",)
    SPEC_TOML_FIELD_NUMBER: _ClassVar[int]
    spec_toml: str
    def __init__(self, spec_toml: _Optional[str] = ...) -> None: ...

class ProposeCellsReply(_message.Message):
    __slots__ = ("cells",)
    CELLS_FIELD_NUMBER: _ClassVar[int]
    cells: _containers.RepeatedCompositeFieldContainer[Cell]
    def __init__(self, cells: _Optional[_Iterable[_Union[Cell, _Mapping]]] = ...) -> None: ...

class NodeState(_message.Message):
    __slots__ = ("party", "state", "detail")
    PARTY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    party: str
    state: str
    detail: str
    def __init__(self, party: _Optional[str] = ..., state: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class PrivacyCost(_message.Message):
    __slots__ = ("party", "epsilon", "mechanism", "d_in", "scale", "datasets", "joint_d_in", "joint_scale")
    PARTY_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    MECHANISM_FIELD_NUMBER: _ClassVar[int]
    D_IN_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    JOINT_D_IN_FIELD_NUMBER: _ClassVar[int]
    JOINT_SCALE_FIELD_NUMBER: _ClassVar[int]
    party: str
    epsilon: float
    mechanism: str
    d_in: int
    scale: float
    datasets: _containers.RepeatedScalarFieldContainer[str]
    joint_d_in: int
    joint_scale: float
    def __init__(self, party: _Optional[str] = ..., epsilon: _Optional[float] = ..., mechanism: _Optional[str] = ..., d_in: _Optional[int] = ..., scale: _Optional[float] = ..., datasets: _Optional[_Iterable[str]] = ..., joint_d_in: _Optional[int] = ..., joint_scale: _Optional[float] = ...) -> None: ...

class RoundStatus(_message.Message):
    __slots__ = ("round_id", "state", "reason", "nodes", "costs", "created_at", "updated_at", "per_child_epsilon")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    COSTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    PER_CHILD_EPSILON_FIELD_NUMBER: _ClassVar[int]
    round_id: str
    state: str
    reason: str
    nodes: _containers.RepeatedCompositeFieldContainer[NodeState]
    costs: _containers.RepeatedCompositeFieldContainer[PrivacyCost]
    created_at: str
    updated_at: str
    per_child_epsilon: float
    def __init__(self, round_id: _Optional[str] = ..., state: _Optional[str] = ..., reason: _Optional[str] = ..., nodes: _Optional[_Iterable[_Union[NodeState, _Mapping]]] = ..., costs: _Optional[_Iterable[_Union[PrivacyCost, _Mapping]]] = ..., created_at: _Optional[str] = ..., updated_at: _Optional[str] = ..., per_child_epsilon: _Optional[float] = ...) -> None: ...

class PollTaskRequest(_message.Message):
    __slots__ = ("wait_seconds",)
    WAIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    wait_seconds: float
    def __init__(self, wait_seconds: _Optional[float] = ...) -> None: ...

class Layout(_message.Message):
    __slots__ = ("n_cells", "slot_bits", "slots_per_ciphertext")
    N_CELLS_FIELD_NUMBER: _ClassVar[int]
    SLOT_BITS_FIELD_NUMBER: _ClassVar[int]
    SLOTS_PER_CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    n_cells: int
    slot_bits: int
    slots_per_ciphertext: int
    def __init__(self, n_cells: _Optional[int] = ..., slot_bits: _Optional[int] = ..., slots_per_ciphertext: _Optional[int] = ...) -> None: ...

class Cell(_message.Message):
    __slots__ = ("area_code", "area_name", "age_band", "members")
    AREA_CODE_FIELD_NUMBER: _ClassVar[int]
    AREA_NAME_FIELD_NUMBER: _ClassVar[int]
    AGE_BAND_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    area_code: str
    area_name: str
    age_band: str
    members: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, area_code: _Optional[str] = ..., area_name: _Optional[str] = ..., age_band: _Optional[str] = ..., members: _Optional[_Iterable[str]] = ...) -> None: ...

class JoinTask(_message.Message):
    __slots__ = ("round_id", "spec_toml", "paillier_public_key", "layout", "cells", "spec_signature", "coordinator_certificate_pem")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_TOML_FIELD_NUMBER: _ClassVar[int]
    PAILLIER_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_FIELD_NUMBER: _ClassVar[int]
    CELLS_FIELD_NUMBER: _ClassVar[int]
    SPEC_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    COORDINATOR_CERTIFICATE_PEM_FIELD_NUMBER: _ClassVar[int]
    round_id: str
    spec_toml: str
    paillier_public_key: bytes
    layout: Layout
    cells: _containers.RepeatedCompositeFieldContainer[Cell]
    spec_signature: bytes
    coordinator_certificate_pem: bytes
    def __init__(self, round_id: _Optional[str] = ..., spec_toml: _Optional[str] = ..., paillier_public_key: _Optional[bytes] = ..., layout: _Optional[_Union[Layout, _Mapping]] = ..., cells: _Optional[_Iterable[_Union[Cell, _Mapping]]] = ..., spec_signature: _Optional[bytes] = ..., coordinator_certificate_pem: _Optional[bytes] = ...) -> None: ...

class Recipient(_message.Message):
    __slots__ = ("party", "envelope_public_key", "key_signature", "certificate_pem")
    PARTY_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    KEY_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_PEM_FIELD_NUMBER: _ClassVar[int]
    party: str
    envelope_public_key: bytes
    key_signature: bytes
    certificate_pem: bytes
    def __init__(self, party: _Optional[str] = ..., envelope_public_key: _Optional[bytes] = ..., key_signature: _Optional[bytes] = ..., certificate_pem: _Optional[bytes] = ...) -> None: ...

class SealTask(_message.Message):
    __slots__ = ("round_id", "recipients")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    round_id: str
    recipients: _containers.RepeatedCompositeFieldContainer[Recipient]
    def __init__(self, round_id: _Optional[str] = ..., recipients: _Optional[_Iterable[_Union[Recipient, _Mapping]]] = ...) -> None: ...

class AggregateTask(_message.Message):
    __slots__ = ("round_id", "spine_party", "spine_certificate_pem", "senders", "forward_to")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SPINE_PARTY_FIELD_NUMBER: _ClassVar[int]
    SPINE_CERTIFICATE_PEM_FIELD_NUMBER: _ClassVar[int]
    SENDERS_FIELD_NUMBER: _ClassVar[int]
    FORWARD_TO_FIELD_NUMBER: _ClassVar[int]
    round_id: str
    spine_party: str
    spine_certificate_pem: bytes
    senders: _containers.RepeatedCompositeFieldContainer[Recipient]
    forward_to: _containers.RepeatedCompositeFieldContainer[Recipient]
    def __init__(self, round_id: _Optional[str] = ..., spine_party: _Optional[str] = ..., spine_certificate_pem: _Optional[bytes] = ..., senders: _Optional[_Iterable[_Union[Recipient, _Mapping]]] = ..., forward_to: _Optional[_Iterable[_Union[Recipient, _Mapping]]] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("task_id", "join", "seal", "aggregate")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    JOIN_FIELD_NUMBER: _ClassVar[int]
    SEAL_FIELD_NUMBER: _ClassVar[int]
    AGGREGATE_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    join: JoinTask
    seal: SealTask
    aggregate: AggregateTask
    def __init__(self, task_id: _Optional[str] = ..., join: _Optional[_Union[JoinTask, _Mapping]] = ..., seal: _Optional[_Union[SealTask, _Mapping]] = ..., aggregate: _Optional[_Union[AggregateTask, _Mapping]] = ...) -> None: ...

class JoinRoundRequest(_message.Message):
    __slots__ = ("round_id", "accept", "reason", "envelope_public_key", "key_signature", "cost")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    KEY_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    round_id: str
    accept: bool
    reason: str
    envelope_public_key: bytes
    key_signature: bytes
    cost: PrivacyCost
    def __init__(self, round_id: _Optional[str] = ..., accept: _Optional[bool] = ..., reason: _Optional[str] = ..., envelope_public_key: _Optional[bytes] = ..., key_signature: _Optional[bytes] = ..., cost: _Optional[_Union[PrivacyCost, _Mapping]] = ...) -> None: ...

class RelayChunk(_message.Message):
    __slots__ = ("round_id", "recipient", "seq", "total", "envelope", "sender")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    round_id: str
    recipient: str
    seq: int
    total: int
    envelope: bytes
    sender: str
    def __init__(self, round_id: _Optional[str] = ..., recipient: _Optional[str] = ..., seq: _Optional[int] = ..., total: _Optional[int] = ..., envelope: _Optional[bytes] = ..., sender: _Optional[str] = ...) -> None: ...

class FetchRelayRequest(_message.Message):
    __slots__ = ("round_id",)
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    round_id: str
    def __init__(self, round_id: _Optional[str] = ...) -> None: ...

class ClearCounts(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, values: _Optional[_Iterable[int]] = ...) -> None: ...

class SealedCounts(_message.Message):
    __slots__ = ("ciphertexts", "noise_terms")
    CIPHERTEXTS_FIELD_NUMBER: _ClassVar[int]
    NOISE_TERMS_FIELD_NUMBER: _ClassVar[int]
    ciphertexts: _containers.RepeatedScalarFieldContainer[bytes]
    noise_terms: int
    def __init__(self, ciphertexts: _Optional[_Iterable[bytes]] = ..., noise_terms: _Optional[int] = ...) -> None: ...

class ReleasedVector(_message.Message):
    __slots__ = ("indicator", "clear", "sealed")
    INDICATOR_FIELD_NUMBER: _ClassVar[int]
    CLEAR_FIELD_NUMBER: _ClassVar[int]
    SEALED_FIELD_NUMBER: _ClassVar[int]
    indicator: str
    clear: ClearCounts
    sealed: SealedCounts
    def __init__(self, indicator: _Optional[str] = ..., clear: _Optional[_Union[ClearCounts, _Mapping]] = ..., sealed: _Optional[_Union[SealedCounts, _Mapping]] = ...) -> None: ...

class Release(_message.Message):
    __slots__ = ("round_id", "vectors", "cost")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    round_id: str
    vectors: _containers.RepeatedCompositeFieldContainer[ReleasedVector]
    cost: PrivacyCost
    def __init__(self, round_id: _Optional[str] = ..., vectors: _Optional[_Iterable[_Union[ReleasedVector, _Mapping]]] = ..., cost: _Optional[_Union[PrivacyCost, _Mapping]] = ...) -> None: ...

class NodeFailure(_message.Message):
    __slots__ = ("round_id", "reason")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    round_id: str
    reason: str
    def __init__(self, round_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ListRoundsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RoundSummary(_message.Message):
    __slots__ = ("round_id", "state", "period", "gemeente_code", "updated_at")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    GEMEENTE_CODE_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    round_id: str
    state: str
    period: int
    gemeente_code: str
    updated_at: str
    def __init__(self, round_id: _Optional[str] = ..., state: _Optional[str] = ..., period: _Optional[int] = ..., gemeente_code: _Optional[str] = ..., updated_at: _Optional[str] = ...) -> None: ...

class ListRoundsReply(_message.Message):
    __slots__ = ("rounds",)
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    rounds: _containers.RepeatedCompositeFieldContainer[RoundSummary]
    def __init__(self, rounds: _Optional[_Iterable[_Union[RoundSummary, _Mapping]]] = ...) -> None: ...

class GetIndexRequest(_message.Message):
    __slots__ = ("round_id",)
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    round_id: str
    def __init__(self, round_id: _Optional[str] = ...) -> None: ...

class IndexReply(_message.Message):
    __slots__ = ("status", "arrow_ipc")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ARROW_IPC_FIELD_NUMBER: _ClassVar[int]
    status: RoundStatus
    arrow_ipc: bytes
    def __init__(self, status: _Optional[_Union[RoundStatus, _Mapping]] = ..., arrow_ipc: _Optional[bytes] = ...) -> None: ...

class GetPooledRequest(_message.Message):
    __slots__ = ("round_id",)
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    round_id: str
    def __init__(self, round_id: _Optional[str] = ...) -> None: ...

class PooledReply(_message.Message):
    __slots__ = ("arrow_ipc", "round_ids")
    ARROW_IPC_FIELD_NUMBER: _ClassVar[int]
    ROUND_IDS_FIELD_NUMBER: _ClassVar[int]
    arrow_ipc: bytes
    round_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, arrow_ipc: _Optional[bytes] = ..., round_ids: _Optional[_Iterable[str]] = ...) -> None: ...
