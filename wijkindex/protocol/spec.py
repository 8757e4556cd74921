"""The round spec: what a coordinator asks of the federation, validated up front.

A spec is versioned TOML. ``RoundSpec.from_toml`` checks every field and raises one
:class:`SpecError` listing each offending field by its path, so a coordinator fixes a
spec in one go. Example::

    version = 2
    period = 2014
    area = "GM0193"            # a gemeente; or a region, with [spines] instead of spine
    level = "wijk"
    age_bands = ["0-3", "4-11", "12-17"]
    spine = "gemeente"

    [nodes.gemeente]
    privacy_loss = 1.0
    indicators = ["eenoudergezin", "jeugdhulp"]

    [nodes.ggd]
    privacy_loss = 1.0
    indicators = ["psychosociale_problemen"]

    [[joint]]                  # children of single parents with psychosocial problems
    name = "eenouder_en_psychosociaal"
    attributes = ["gemeente:eenoudergezin", "ggd:psychosociale_problemen"]

    [[joint]]                  # cumulative risk: how many of these a child has (0, 1, 2, 3+)
    name = "cumulatief_risico"
    kind = "count"
    attributes = ["gemeente:eenoudergezin", "gemeente:bijstand", "ggd:psychosociale_problemen"]

    [indicator.psychosociale_problemen]   # a rate of the children the JGZ saw, not of all children
    population = "source"
    ages = [0, 17]

An indicator's scope (``[indicator.NAME]``) says which children it is a rate of and at
which ages it can occur: ``population`` is ``"all"`` (every registered child, the default),
``"source"`` (the spine's children linked to a record of the indicator's node: pupils,
children the JGZ saw) or another indicator of the same node (a sub-population: VVE
participation among the children with a VVE indication). Cells of age bands wholly outside
``ages`` are not published; what each node releases follows from the scopes
(``RoundSpec.releases``).

A region round (``area`` a region code such as "GG0716", or a user's own) names the spine
node of each of its gemeenten instead of one ``spine``::

    area = "GG0716"
    area_name = "GGD IJsselland"
    [spines]                   # each gemeente's BRP node is the spine for its own children
    GM0193 = "brp_zwolle"
    GM0148 = "brp_dalfsen"

The other nodes (a GGD serving the whole region, a school board with schools in several
gemeenten) take part once and link their records to every spine. Version-1 specs
(``gemeente = "GM0193"``) are still read, as a gemeente area.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import tomllib
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable, Mapping

from wijkindex.errors import SpecError
from wijkindex.geography.base import gemeente_of_area
from wijkindex.linkage.fuzzy import link_sensitivity, report_sensitivity
from wijkindex.privacy.noise import NoisePlan
from wijkindex.protocol.packing import LEVEL_SLOT_BITS
from wijkindex.vocabulary import LINKAGE, POPULATION

SPEC_VERSION = 2
READ_VERSIONS = (1, 2)  # version 1: ``gemeente`` instead of ``area``
LEVELS = ("wijk", "buurt")
DEFAULT_AGE_BANDS = ("0-3", "4-11", "12-17")
DEFAULT_JOINT_WEIGHT = 0.5  # a joint vector's share of the epsilon a marginal vector gets (privacy/noise.py)
MAX_PRIVACY_LOSS = 10.0
DEFAULT_SLOT_BITS = 40  # per-cell counter width in a packed Paillier plaintext (protocol/packing.py)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_ROUND_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,80}$")
_GEMEENTE = re.compile(r"^GM\d{4}$")
_REGION = re.compile(r"^[A-Z][A-Z0-9_-]{1,15}$")  # GG0716, JZ12, or a user's own code
_BAND = re.compile(r"^(\d{1,2})-(\d{1,2})$")


@dataclass(frozen=True)
class AgeBand:
    """Ages ``low`` to ``high`` in completed years on the reference date, both included."""

    label: str
    low: int
    high: int

    def contains(self, age: int) -> bool:
        return self.low <= age <= self.high


@dataclass(frozen=True)
class NodeRequest:
    """What one node is asked for: its indicators and the privacy loss it may spend."""

    party: str
    privacy_loss: float
    indicators: tuple[str, ...]
    fuzzy: bool = False  # records without a BSN link on keyed encodings; the node reports how it linked


JOINT_KINDS = ("all", "count")
ALL, SOURCE = "all", "source"
MAX_CHAIN = 8  # nodes of a chain; each node's noise share is bounded by offset / chain length (docs/protocol.md)
SHARE_TAIL_SCALES = 60  # a noise share's bound must be this many scales: P(a draw beyond it) < e^-60 per slot


@dataclass(frozen=True)
class JointIndicator:
    """An indicator over attributes ("node:indicator") of several nodes, computed by the chain protocol.

    ``kind = "all"``: children with every listed attribute, per cell.
    ``kind = "count"``: the distribution of how many of the listed attributes a child has
    (0, 1, ..., ``cap``+), per cell: cumulative risk.

    The chain starts at the spine node (it seals each child's cell) and visits the
    nodes holding the attributes in the round's node order; each node conditions or
    shifts the sealed cells by its own attributes, the last one aggregates, and every
    node in the chain adds a noise share.
    """

    name: str
    attributes: tuple[tuple[str, str], ...]
    kind: str = "all"
    cap: int = 3

    def at(self, party: str) -> tuple[str, ...]:
        return tuple(ind for node, ind in self.attributes if node == party)

    @property
    def sensitivity(self) -> int:
        """L1 change of the released vector when one child is added to or removed from one node's data.

        A count histogram moves a child from one level to another when a source loses
        its record: -1 in one slot, +1 in another.
        """
        return 2 if self.kind == "count" else 1

    def level_names(self) -> tuple[str, ...]:
        """The released indicators of a count joint: name_0 .. name_{cap-1}, name_{cap}plus."""
        if self.kind != "count":
            return (self.name,)
        return (*(f"{self.name}_{k}" for k in range(self.cap)), f"{self.name}_{self.cap}plus")


@dataclass(frozen=True)
class Scope:
    """Which children an indicator is a rate of (``population``) and the ages it can occur at."""

    population: str = ALL
    low: int = 0
    high: int = 17

    @property
    def full_ages(self) -> bool:
        return (self.low, self.high) == (0, 17)

    def overlaps(self, band: AgeBand) -> bool:
        return band.low <= self.high and self.low <= band.high

    def holds(self, band: AgeBand) -> bool:
        return self.low <= band.low and band.high <= self.high

    def to_mapping(self) -> dict[str, Any]:
        return {"population": self.population, "ages": [self.low, self.high]}


@dataclass(frozen=True)
class Release:
    """One vector a node releases: its name, whether it is a joint's (joint noise) and sealed
    (aggregated under Paillier at a source) or clear (counted by the spine, or a linkage report)."""

    name: str
    joint: bool = False
    sealed: bool = False


@dataclass(frozen=True)
class RoundSpec:
    period: int
    area: str                                # a gemeente (GM0193) or a region's code
    level: str
    age_bands: tuple[AgeBand, ...]
    spines: tuple[tuple[str, str], ...]      # (gemeente code, its spine node), sorted by code
    nodes: tuple[NodeRequest, ...]
    round_id: str = ""
    min_cell_size: int = 10
    deadline_seconds: int = 900
    nonce: str = field(default_factory=lambda: secrets.token_hex(8))
    joint: tuple[JointIndicator, ...] = ()
    joint_weight: float = DEFAULT_JOINT_WEIGHT
    # the digest of the round's cells (protocol.parameters.cells_digest), filled in before signing,
    # and the packing slot width: nodes take both from the signed spec, never from a task
    cells_sha256: str = ""
    slot_bits: int = DEFAULT_SLOT_BITS
    scopes: tuple[tuple[str, Scope], ...] = ()  # [indicator.NAME] tables; absent: every child, ages 0-17
    area_name: str = ""

    @property
    def is_region(self) -> bool:
        """A round over several gemeenten (each with its own spine), or a region of one."""
        return not _GEMEENTE.match(self.area)

    @property
    def gemeenten(self) -> tuple[str, ...]:
        return tuple(g for g, _ in self.spines)

    @property
    def spine_parties(self) -> tuple[str, ...]:
        return tuple(p for _, p in self.spines)

    def is_spine(self, party: str) -> bool:
        return party in self.spine_parties

    def gemeente_of_spine(self, party: str) -> str:
        return next(g for g, p in self.spines if p == party)

    def own_areas(self, party: str, areas: Iterable[str]) -> set[str]:
        """The areas whose children a spine holds: every area, or in a region round those of its
        own gemeente (by the CBS area code). The spine counts only these and the aggregator
        refuses a spine release with counts elsewhere: one rule for both."""
        if not self.is_region:
            return set(areas)
        gemeente = self.gemeente_of_spine(party)
        return {a for a in areas if gemeente_of_area(a) == gemeente}

    @property
    def spine(self) -> str:
        """The spine node of a gemeente round (a region round has one per gemeente: ``spines``)."""
        if len(self.spines) != 1:
            raise ValueError(f"round over {self.area} has {len(self.spines)} spines; use spine_parties")
        return self.spines[0][1]

    @property
    def gemeente(self) -> str:
        """The gemeente of a gemeente round (version-1 name of ``area``)."""
        return self.area

    @property
    def reference_date(self) -> date:
        """Ages and residence are taken on 1 January of the period, as in the BRP monitor."""
        return date(self.period, 1, 1)

    @property
    def parties(self) -> tuple[str, ...]:
        return tuple(n.party for n in self.nodes)

    @property
    def sources(self) -> tuple[NodeRequest, ...]:
        """The nodes other than the spine holders: they receive every sealed spine."""
        return tuple(n for n in self.nodes if not self.is_spine(n.party))

    def node(self, party: str) -> NodeRequest:
        for n in self.nodes:
            if n.party == party:
                return n
        raise KeyError(party)

    def indicator_source(self) -> dict[str, str]:
        return {ind: n.party for n in self.nodes for ind in n.indicators}

    def chain(self, joint: JointIndicator) -> tuple[str, ...]:
        """The nodes a joint indicator's sealed cells visit: the spine (in a region round every
        spine, each sealing its own children), then attribute holders in node order."""
        holders = {node for node, _ in joint.attributes}
        return (*self.spine_parties,
                *(n.party for n in self.nodes if n.party in holders and not self.is_spine(n.party)))

    def joint_at(self, joint: JointIndicator, party: str) -> tuple[str, ...]:
        """This node's attributes of a joint: in a region round every spine holds the spine's
        (the spec names them at the first spine)."""
        return joint.at(self.spine_parties[0] if self.is_spine(party) else party)

    def previous_hops(self, joint: JointIndicator, party: str) -> tuple[str, ...]:
        """Whose relay of a joint's sealed cells this node continues: every spine's for the first
        holder after the spines (it takes each child from its own spine), the node before otherwise."""
        if self.is_spine(party):
            return ()
        chain = self.chain(joint)
        before = chain[chain.index(party) - 1]
        return self.spine_parties if self.is_spine(before) else (before,)

    def joint_for(self, party: str) -> tuple[JointIndicator, ...]:
        """The joint indicators whose chain passes this node (each costs it a noise share)."""
        return tuple(j for j in self.joint if party in self.chain(j))

    def joint_released_by(self, party: str) -> tuple[JointIndicator, ...]:
        """The joint indicators whose noised counts this node releases (the chain's last node; in a
        region round whose chain is the spines only, each spine releases its own gemeente's)."""
        return tuple(j for j in self.joint if (self.chain(j)[-1] == party or
                                               self.is_spine(party) and self.is_spine(self.chain(j)[-1])))

    def next_hop(self, joint: JointIndicator, party: str) -> str | None:
        chain = self.chain(joint)
        i = len(self.spine_parties) - 1 if self.is_spine(party) else chain.index(party)
        return chain[i + 1] if i + 1 < len(chain) else None

    def joint_noise_parties(self, joint: JointIndicator) -> tuple[str, ...]:
        """Whose joint noise share a cell of the released joint carries: one spine's (a region's
        spine adds noise to its own gemeente's cells only) and every holder's."""
        return tuple(p for p in self.chain(joint) if not self.is_spine(p) or p == self.spine_parties[0])

    def relay_edges(self) -> tuple[tuple[str, str], ...]:
        """(sender, recipient) of every relay: every spine to each source, and each chain hop."""
        edges = {(sp, s.party) for sp in self.spine_parties for s in self.sources}
        for j in self.joint:
            for p in self.chain(j):
                if (nxt := self.next_hop(j, p)) is not None:
                    edges.add((p, nxt))
        order = {p: i for i, p in enumerate(self.parties)}
        return tuple(sorted(edges, key=lambda e: (order[e[0]], order[e[1]])))

    def levels(self, joint: JointIndicator) -> int:
        """Slots per cell of a joint's sealed vector: 1, or 1 + the most attributes a child can carry."""
        if joint.kind != "count":
            return 1
        # one spine (a region's spines hold the same attributes) and every holder
        return 1 + sum(min(len(self.joint_at(joint, p)), joint.cap) for p in self.joint_noise_parties(joint))

    def scope(self, indicator: str) -> Scope:
        """An indicator's scope; a joint ``all`` indicator is of every child at the ages its
        attributes share, a cumulative-risk level of every child."""
        declared = dict(self.scopes)
        if indicator in declared:
            return declared[indicator]
        joint = next((j for j in self.joint if j.kind == "all" and j.name == indicator), None)
        if joint is not None:
            parts = [self.scope(ind) for _, ind in joint.attributes]
            return Scope(ALL, max(p.low for p in parts), min(p.high for p in parts))
        return Scope()

    def published_bands(self, indicator: str) -> tuple[AgeBand, ...]:
        """The age bands whose cells an indicator is published for: those its ages overlap."""
        return tuple(b for b in self.age_bands if self.scope(indicator).overlaps(b))

    def denominator_of(self, indicator: str) -> str:
        """The released vector an indicator is a rate of: ``population`` (the spine's count of
        registered children), ``population@LOW-HIGH`` (the spine's children of those ages, where
        a band is only partly of the indicator's ages), ``population:NODE[@LOW-HIGH]`` (the
        children linked to the node's records) or the indicator of a sub-population."""
        scope = self.scope(indicator)
        joint_level = any(indicator in j.level_names() for j in self.joint if j.kind == "count")
        if joint_level or any(j.name == indicator for j in self.joint):
            return POPULATION
        ages = "" if scope.full_ages else f"@{scope.low}-{scope.high}"
        if scope.population == ALL:
            whole = all(scope.holds(b) for b in self.published_bands(indicator))
            return POPULATION if whole else f"{POPULATION}{ages}"
        if scope.population == SOURCE:
            return f"{POPULATION}:{self.indicator_source()[indicator]}{ages}"
        return scope.population

    def denominator_ages(self, denominator: str) -> tuple[int, int]:
        """The ages a population count is of: ``population@4-17`` -> (4, 17); else (0, 17)."""
        if not denominator.startswith(POPULATION) or "@" not in denominator:
            return 0, 17
        low, high = denominator.rsplit("@", 1)[1].split("-")
        return int(low), int(high)

    def releases(self, party: str) -> tuple[Release, ...]:
        """Every vector this node releases, in order: its indicators, the population counts it
        holds (the spine's registered children; a source's linked children for the scopes that
        ask), its linkage report if it links fuzzily, the joint indicators its chain ends at.
        The node builds its release from this, the aggregator checks a release against it."""
        at_spine = self.is_spine(party)
        req = self.node(party)
        out = [Release(ind, sealed=not at_spine) for ind in req.indicators]
        if at_spine:
            out.append(Release(POPULATION))
        dens = dict.fromkeys(self.denominator_of(i) for n in self.nodes for i in n.indicators)
        for den in dens:
            at = (party if at_spine else None) if den.startswith(POPULATION + "@") else (
                den.split(":", 1)[1].split("@")[0] if den.startswith(POPULATION + ":") else None)
            if at == party:
                out.append(Release(den, sealed=not at_spine))
        if req.fuzzy:
            out.append(Release(LINKAGE))
        out += [Release(j.name, joint=True, sealed=not at_spine) for j in self.joint_released_by(party)]
        return tuple(out)

    def link_factor(self, party: str) -> int:
        """How many spine children's counts one child can change through this node's records: 1, or
        for a fuzzy node ``link_sensitivity()`` (its own row, the one group of its block, and one per
        identity group of its records without a BSN; docs/linkage.md, "Sensitivity")."""
        return link_sensitivity() if self.node(party).fuzzy else 1

    def release_sensitivity(self, party: str, release: Release) -> int:
        """L1 sensitivity per child of one marginal release of this node: the link factor, or for a
        fuzzy node's linkage report ``report_sensitivity()``."""
        return report_sensitivity() if release.name == LINKAGE else self.link_factor(party)

    def d_marginal(self, party: str) -> int:
        """L1 sensitivity per child of this node's marginal vectors (OpenDP's d_in): the sum of its
        marginal releases' sensitivities (indicators, population counts, the linkage report of a
        fuzzy node: each child in one cell or bin of each, times the node's link factor)."""
        return sum(self.release_sensitivity(party, r) for r in self.releases(party) if not r.joint)

    def d_joint(self, party: str) -> int:
        """L1 sensitivity per child of the joint-indicator noise shares this node adds."""
        return sum(j.sensitivity for j in self.joint_for(party)) * self.link_factor(party)

    def noise_plan(self, party: str) -> NoisePlan:
        """The noise this node must add for its privacy_loss: what the node draws, the aggregator checks."""
        return NoisePlan.for_budget(self.node(party).privacy_loss, self.d_marginal(party), self.d_joint(party),
                                    self.joint_weight)

    def band_of(self, age: int) -> int | None:
        for i, band in enumerate(self.age_bands):
            if band.contains(age):
                return i
        return None

    @classmethod
    def from_toml(cls, text: str, *, source: str = "round spec",
                  known_nodes: Iterable[str] | None = None) -> "RoundSpec":
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(f"{source}: not valid TOML: {exc}") from None
        return cls.from_mapping(raw, source=source, known_nodes=known_nodes)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], *, source: str = "round spec",
                     known_nodes: Iterable[str] | None = None) -> "RoundSpec":
        problems: list[str] = []

        def bad(path: str, why: str) -> None:
            problems.append(f"{path}: {why}")

        allowed = {"version", "round_id", "period", "area", "area_name", "gemeente", "level", "age_bands", "spine",
                   "spines",
                   "nodes", "min_cell_size", "deadline_seconds", "nonce", "joint", "joint_weight",
                   "cells_sha256", "slot_bits", "indicator"}
        for key in sorted(set(raw) - allowed):
            bad(key, "unknown field")
        version = raw.get("version")
        if version not in READ_VERSIONS:
            bad("version", f"must be {SPEC_VERSION} (or 1, read as before), got {version!r}")
        round_id = raw.get("round_id", "")
        if round_id and (not isinstance(round_id, str) or not _ROUND_ID.match(round_id)):
            bad("round_id", "3-80 characters of letters, digits, '.', '_' or '-'")
        period = raw.get("period")
        if not isinstance(period, int) or isinstance(period, bool) or not 1990 <= period <= 2100:
            bad("period", f"a year between 1990 and 2100, got {period!r}")
        level = raw.get("level", "wijk")
        if level not in LEVELS:
            bad("level", f"one of {', '.join(LEVELS)}, got {level!r}")
        bands = _parse_bands(raw.get("age_bands", list(DEFAULT_AGE_BANDS)), bad)
        min_cell = raw.get("min_cell_size", 10)
        if not isinstance(min_cell, int) or isinstance(min_cell, bool) or not 0 <= min_cell <= 1000:
            bad("min_cell_size", f"an integer from 0 to 1000, got {min_cell!r}")
        deadline = raw.get("deadline_seconds", 900)
        if not isinstance(deadline, int) or isinstance(deadline, bool) or not 10 <= deadline <= 86400:
            bad("deadline_seconds", f"an integer from 10 to 86400, got {deadline!r}")
        joint_weight = raw.get("joint_weight", DEFAULT_JOINT_WEIGHT)
        if not isinstance(joint_weight, (int, float)) or isinstance(joint_weight, bool) or not 0 < joint_weight <= 1:
            bad("joint_weight", f"a number in (0, 1]: a joint vector's share of a marginal vector's epsilon, "
                                f"got {joint_weight!r}")
        cells_sha256 = raw.get("cells_sha256", "")
        if not isinstance(cells_sha256, str) or cells_sha256 and not re.fullmatch(r"[0-9a-f]{64}", cells_sha256):
            bad("cells_sha256", "64 lowercase hex characters (`wijkindex round start` fills it in)")
        slot_bits = raw.get("slot_bits", DEFAULT_SLOT_BITS)
        if not isinstance(slot_bits, int) or isinstance(slot_bits, bool) or not 24 <= slot_bits <= 64:
            bad("slot_bits", f"an integer from 24 to 64 (bits per packed cell counter), got {slot_bits!r}")
        nonce = raw.get("nonce") or secrets.token_hex(8)
        if not isinstance(nonce, str) or not re.fullmatch(r"[0-9a-f]{16,64}", nonce):
            bad("nonce", "16-64 lowercase hex characters")

        nodes = _parse_nodes(raw.get("nodes"), bad, known_nodes, raw.get("spines"))
        area, area_name, spines = _parse_area(raw, version, bad, nodes)
        spine_parties = {p for _, p in spines}
        for n in nodes:
            if n.fuzzy and n.party in spine_parties:
                bad(f"nodes.{n.party}.fuzzy", "a spine node links nothing; fuzzy linkage is for source nodes")
        joint = _parse_joint(raw.get("joint", []), bad, nodes, [p for _, p in spines])
        scopes = _parse_scopes(raw.get("indicator", {}), bad, nodes, joint, bands)
        if problems:
            listing = "\n  - ".join(problems)
            raise SpecError(f"{source} is invalid ({len(problems)} problem(s)):\n  - {listing}")
        spec = cls(period=period, area=area, level=level, age_bands=bands,  # type: ignore[arg-type]
                   spines=spines, nodes=tuple(nodes), round_id=round_id or "",  # type: ignore[arg-type]
                   area_name=area_name,
                   min_cell_size=min_cell, deadline_seconds=deadline, nonce=nonce, joint=joint,
                   joint_weight=float(joint_weight), cells_sha256=cells_sha256,  # type: ignore[arg-type]
                   slot_bits=slot_bits, scopes=scopes)  # type: ignore[arg-type]
        problems = spec.share_problems()
        if problems:
            listing = "\n  - ".join(problems)
            raise SpecError(f"{source} is invalid ({len(problems)} problem(s)):\n  - {listing}")
        return spec

    def share_problems(self) -> list[str]:
        """Joints whose noise shares would not fit their slots: each node's share is bounded by
        offset / chain length (`sealing.seal_noise`), and a node's joint scale must stay far
        below that bound, or a draw beyond it would fail the round at the node."""
        out = []
        for j in self.joint:
            bits = self.slot_bits if self.levels(j) == 1 else LEVEL_SLOT_BITS
            parties = self.joint_noise_parties(j)
            bound = (1 << (bits - 2)) // len(parties)
            for p in parties:
                scale = self.noise_plan(p).joint.scale
                if scale * SHARE_TAIL_SCALES > bound:
                    need = self.node(p).privacy_loss * scale * SHARE_TAIL_SCALES / bound
                    out.append(f"joint.{j.name}: the noise share of {p} (scale {scale:.0f} at privacy_loss "
                               f"{self.node(p).privacy_loss:g}) does not fit a slot shared by {len(parties)} "
                               f"nodes; give {p} a privacy_loss of at least {need:.3g}, or fewer nodes or "
                               f"joint indicators")
        return out

    def with_round_id(self, round_id: str) -> "RoundSpec":
        return dataclasses.replace(self, round_id=round_id)

    def with_cells(self, cells_sha256: str) -> "RoundSpec":
        return dataclasses.replace(self, cells_sha256=cells_sha256)

    def epsilon_of_round(self) -> float:
        """What one child held by every node of the round can lose in it: the sum of the OpenDP
        costs (basic composition) of the sources and of one spine (a child has one gemeente:
        its own spine's release is the only one of the spines that counts it). A spine's
        dataset is charged this much, since every source's release depends on the cells the
        spine gives its children (docs/privacy.md)."""
        sources = sum(self.noise_plan(n.party).epsilon_spent for n in self.sources)
        return sources + max(self.noise_plan(p).epsilon_spent for p in self.spine_parties)

    def to_mapping(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": SPEC_VERSION,
            "period": self.period,
            "area": self.area,
            **({"area_name": self.area_name} if self.area_name else {}),
            "level": self.level,
            "age_bands": [b.label for b in self.age_bands],
            **({"spines": dict(self.spines)} if self.is_region else {"spine": self.spine}),
            "min_cell_size": self.min_cell_size,
            "deadline_seconds": self.deadline_seconds,
            "nonce": self.nonce,
            "joint_weight": self.joint_weight,
            "nodes": {n.party: {"privacy_loss": n.privacy_loss, "indicators": list(n.indicators),
                                **({"fuzzy": True} if n.fuzzy else {})}
                      for n in self.nodes},
        }
        if self.round_id:
            out["round_id"] = self.round_id
        if self.cells_sha256:
            out["cells_sha256"] = self.cells_sha256
        if self.slot_bits != DEFAULT_SLOT_BITS:
            out["slot_bits"] = self.slot_bits
        if self.scopes:
            out["indicator"] = {name: scope.to_mapping() for name, scope in self.scopes}
        if self.joint:
            out["joint"] = [{"name": j.name, "kind": j.kind, "attributes": [f"{n}:{i}" for n, i in j.attributes],
                             **({"cap": j.cap} if j.kind == "count" else {})} for j in self.joint]
        return out

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.to_mapping())


def parse_age_bands(labels: Iterable[str]) -> tuple[AgeBand, ...]:
    """The age bands of a list of labels, read as a spec reads them (ValueError if invalid)."""
    problems: list[str] = []
    bands = _parse_bands(list(labels), lambda path, why: problems.append(f"{path}: {why}"))
    if problems:
        raise ValueError("; ".join(problems))
    return bands


def _parse_bands(value: Any, bad: Any) -> tuple[AgeBand, ...]:
    """Bands are inclusive ("0-3", "4-11"); touching bands ("0-4", "4-12") are half-open."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        bad("age_bands", "a non-empty list of bands like \"0-3\"")
        return ()
    spans: list[tuple[int, int]] = []
    for i, label in enumerate(value):
        m = _BAND.match(label)
        if not m or int(m.group(1)) > int(m.group(2)):
            bad(f"age_bands[{i}]", f"a band 'low-high' with low <= high, got {label!r}")
            return ()
        spans.append((int(m.group(1)), int(m.group(2))))
    half_open = all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1)) and len(spans) > 1
    bands = []
    for label, (lo, hi) in zip(value, spans):
        bands.append(AgeBand(label, lo, hi - 1 if half_open else hi))
    for a, b in zip(bands, bands[1:]):
        if b.low <= a.high:
            bad("age_bands", f"bands {a.label} and {b.label} overlap")
    if bands and (bands[0].low < 0 or bands[-1].high > 17):
        bad("age_bands", "bands must lie within ages 0-17 (children)")
    return tuple(bands)


def _parse_area(raw: Mapping[str, Any], version: Any, bad: Any, nodes: list[NodeRequest],
                ) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """(area, area name, spines): version 1 names a ``gemeente`` and its ``spine``; version 2
    an ``area`` with ``spine`` (a gemeente) or ``[spines]`` (a region: gemeente -> node)."""
    parties = {n.party: n for n in nodes}
    key = "gemeente" if version == 1 else "area"
    if version == 1 and "area" in raw or version != 1 and "gemeente" in raw:
        bad("area" if version == 1 else "gemeente",
            "version 1 names a `gemeente`, version 2 an `area`: write `version = 2` and `area = ...`")
    area = raw.get(key)
    name = raw.get("area_name", "")
    if not isinstance(name, str) or len(name) > 120:
        bad("area_name", "a name of at most 120 characters")
        name = ""
    spines: list[tuple[str, str]] = []
    if not isinstance(area, str) or not (_GEMEENTE.match(area) or _REGION.match(area)):
        bad(key, f"a CBS gemeente code like 'GM0193' or a region code like 'GG0716', got {area!r}")
        return "", name, (("", ""),)
    if _GEMEENTE.match(area):
        spine = raw.get("spine")
        if "spines" in raw:
            bad("spines", f"a gemeente round has one `spine`; [spines] is for a region (area {area} is a gemeente)")
        if not isinstance(spine, str) or not spine:
            bad("spine", "the name of the node holding the population spine")
        elif nodes and spine not in parties:
            bad("spine", f"{spine!r} is not one of the round's nodes ({', '.join(parties)})")
        return area, name, ((area, spine if isinstance(spine, str) else ""),)
    if "spine" in raw:
        bad("spine", f"a region round ({area}) names each gemeente's spine node in [spines], not one `spine`")
    table = raw.get("spines")
    if not isinstance(table, Mapping) or not table:
        bad("spines", 'a table of gemeente code = spine node, e.g. [spines] GM0193 = "brp_zwolle"')
        return area, name, (("", ""),)
    for g, p in sorted(table.items()):
        if not _GEMEENTE.match(str(g)):
            bad(f"spines.{g}", "a CBS gemeente code like 'GM0193'")
        elif not isinstance(p, str) or (nodes and p not in parties):
            bad(f"spines.{g}", f"{p!r} is not one of the round's nodes ({', '.join(parties)})")
        else:
            spines.append((str(g), p))
    used = [p for _, p in spines]
    for p in sorted({p for p in used if used.count(p) > 1}):
        bad("spines", f"node {p} is the spine of several gemeenten; each gemeente's BRP node is its own")
    reqs = [parties[p] for p in used if p in parties]
    if any((r.indicators, r.privacy_loss) != (reqs[0].indicators, reqs[0].privacy_loss) for r in reqs):
        bad("spines", "every spine node of a region is asked the same indicators at the same privacy_loss "
                      "(their counts are summed into the region's)")
    return area, name, tuple(spines) or (("", ""),)


def _spines_of(spines: Any, *parties: str) -> bool:
    """Whether every one of ``parties`` is a spine of a region's [spines] table (they each count
    the same indicators for their own gemeente)."""
    return isinstance(spines, Mapping) and all(p in spines.values() for p in parties)


def _parse_nodes(value: Any, bad: Any, known_nodes: Iterable[str] | None,
                 raw_spines: Any = None) -> list[NodeRequest]:
    if not isinstance(value, dict) or not value:
        bad("nodes", "a table of participating nodes, e.g. [nodes.gemeente]")
        return []
    known = set(known_nodes) if known_nodes is not None else None
    seen_indicators: dict[str, str] = {}
    out: list[NodeRequest] = []
    for party, body in value.items():
        path = f"nodes.{party}"
        if not _NAME.match(party):
            bad(path, "node names are lowercase letters, digits, '-' or '_'")
            continue
        if known is not None and party not in known:
            bad(path, f"unknown node {party!r}; the aggregator knows {', '.join(sorted(known)) or 'none'}")
        if not isinstance(body, dict):
            bad(path, "a table with privacy_loss and indicators")
            continue
        for key in sorted(set(body) - {"privacy_loss", "indicators", "fuzzy"}):
            bad(f"{path}.{key}", "unknown field")
        eps = body.get("privacy_loss")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not (0 < eps <= MAX_PRIVACY_LOSS) or eps != eps:
            bad(f"{path}.privacy_loss", f"a number in (0, {MAX_PRIVACY_LOSS}], got {eps!r}")
            eps = None
        inds = body.get("indicators")
        if not isinstance(inds, list) or not inds or not all(isinstance(i, str) and _NAME.match(i) for i in inds):
            bad(f"{path}.indicators", "a non-empty list of indicator names")
            inds = []
        for ind in inds:
            if ind.startswith(POPULATION) or ind == LINKAGE:
                bad(f"{path}.indicators", f"{ind!r}: names starting with {POPULATION!r} and {LINKAGE!r} are "
                                          f"the round's own counts")
            if ind in seen_indicators and not _spines_of(raw_spines, seen_indicators[ind], party):
                bad(f"{path}.indicators", f"{ind!r} is also asked of {seen_indicators[ind]}")
            seen_indicators[ind] = party
        fuzzy = body.get("fuzzy", False)
        if not isinstance(fuzzy, bool):
            bad(f"{path}.fuzzy", f"true or false, got {fuzzy!r}")
        if eps is not None and inds:
            out.append(NodeRequest(party=party, privacy_loss=float(eps), indicators=tuple(inds),
                                   fuzzy=fuzzy is True))
    return out


def _parse_joint(value: Any, bad: Any, nodes: list[NodeRequest], spines: list[str]) -> tuple[JointIndicator, ...]:
    """The [[joint]] tables. In a region round an attribute may name any spine: it is every spine's
    (each holds its own gemeente's children), written at the first spine."""
    if not isinstance(value, list):
        bad("joint", "a list of [[joint]] tables")
        return ()
    parties = {n.party for n in nodes}
    marginal = {ind for n in nodes for ind in n.indicators}
    out: list[JointIndicator] = []
    for i, body in enumerate(value):
        path = f"joint[{i}]"
        if not isinstance(body, dict):
            bad(path, "a table with name and attributes")
            continue
        for key in sorted(set(body) - {"name", "attributes", "kind", "cap"}):
            bad(f"{path}.{key}", "unknown field")
        name = body.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            bad(f"{path}.name", "a lowercase name")
            continue
        if name in marginal or name in {j.name for j in out}:
            bad(f"{path}.name", f"{name!r} is already an indicator of this round")
        kind = body.get("kind", "all")
        if kind not in JOINT_KINDS:
            bad(f"{path}.kind", f"one of {', '.join(JOINT_KINDS)}, got {kind!r}")
            continue
        cap = body.get("cap", 3)
        if kind == "count" and (not isinstance(cap, int) or isinstance(cap, bool) or not 1 <= cap <= 9):
            bad(f"{path}.cap", f"an integer from 1 to 9 (the top level, shown as cap+), got {cap!r}")
            continue
        attrs = body.get("attributes")
        if not isinstance(attrs, list) or len(attrs) < 2 or not all(isinstance(a, str) for a in attrs):
            bad(f"{path}.attributes", 'at least two "node:indicator" strings')
            continue
        parsed = []
        for a in attrs:
            node, _, ind = a.partition(":")
            if node not in parties or not _NAME.match(ind):
                bad(f"{path}.attributes", f"{a!r}: node:indicator with a node of this round "
                    f"({', '.join(sorted(parties))})")
            parsed.append((spines[0] if node in spines else node, ind))
        chain = {spines[0] if spines else "", *(n for n, _ in parsed)}
        if len(chain) > MAX_CHAIN:
            bad(f"{path}.attributes", f"the chain {', '.join(sorted(chain))} visits {len(chain)} nodes; "
                f"at most {MAX_CHAIN} nodes share a packed slot's noise offset")
        if len(set(parsed)) != len(parsed):
            bad(f"{path}.attributes", "an attribute is listed twice")
        out.append(JointIndicator(name, tuple(parsed), kind, min(cap, len(parsed)) if kind == "count" else 3))
    return tuple(out)


def _parse_scopes(value: Any, bad: Any, nodes: list[NodeRequest], joint: tuple[JointIndicator, ...],
                  bands: tuple[AgeBand, ...]) -> tuple[tuple[str, Scope], ...]:
    """``[indicator.NAME]`` tables: population ("all", "source" or an indicator of the same node)
    and ages [low, high]; a sub-population has the ages of the indicator it is a part of."""
    if not isinstance(value, dict):
        bad("indicator", "a table of [indicator.NAME] tables with population and ages")
        return ()
    holder = {ind: n.party for n in nodes for ind in n.indicators}
    holder.update({ind: node for j in joint for node, ind in j.attributes})
    out: dict[str, Scope] = {}
    for name, body in value.items():
        path = f"indicator.{name}"
        if name not in holder:
            bad(path, f"{name!r} is not an indicator of this round")
            continue
        if not isinstance(body, dict):
            bad(path, "a table with population and ages")
            continue
        for key in sorted(set(body) - {"population", "ages"}):
            bad(f"{path}.{key}", "unknown field")
        population = body.get("population", ALL)
        if not isinstance(population, str) or population not in (ALL, SOURCE) and holder.get(population) != holder[name]:
            bad(f"{path}.population", f"'all', 'source' or an indicator of node {holder[name]}, got {population!r}")
            continue
        if population == name:
            bad(f"{path}.population", "an indicator cannot be its own population")
            continue
        ages = body.get("ages", [0, 17])
        if not (isinstance(ages, list) and len(ages) == 2 and all(isinstance(a, int) and not isinstance(a, bool)
                                                                  for a in ages) and 0 <= ages[0] <= ages[1] <= 17):
            bad(f"{path}.ages", f"[low, high] with 0 <= low <= high <= 17, got {ages!r}")
            continue
        scope = Scope(population, ages[0], ages[1])
        if bands and not any(scope.overlaps(b) for b in bands):
            bad(f"{path}.ages", f"ages {ages[0]}-{ages[1]} fall in none of the round's age bands")
            continue
        out[name] = scope
    for name, scope in out.items():
        if scope.population in (ALL, SOURCE):
            continue
        parent = out.get(scope.population, Scope())
        if parent.population not in (ALL, SOURCE):
            bad(f"indicator.{name}.population", f"{scope.population!r} is itself a sub-population; "
                f"name its population instead")
        elif (parent.low, parent.high) != (scope.low, scope.high):
            bad(f"indicator.{name}.ages", f"a sub-population has the ages of {scope.population!r} "
                f"({parent.low}-{parent.high}), got {scope.low}-{scope.high}")
        elif scope.population not in {i for n in nodes for i in n.indicators}:
            bad(f"indicator.{name}.population", f"{scope.population!r} must itself be asked of the node "
                f"(its noised count is the denominator)")
    return tuple(sorted(out.items()))
