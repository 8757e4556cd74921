"""Round spec validation: every offending field is named, good specs round-trip."""

from __future__ import annotations

import pytest
import tomli_w
from hypothesis import given
from hypothesis import strategies as st

from wijkindex.errors import SpecError
from wijkindex.protocol.spec import MAX_CHAIN, RoundSpec

GOOD = {
    "version": 1, "period": 2014, "gemeente": "GM0193", "level": "wijk",
    "age_bands": ["0-3", "4-11", "12-17"], "spine": "gemeente",
    "nodes": {"gemeente": {"privacy_loss": 1.0, "indicators": ["eenoudergezin"]},
              "ggd": {"privacy_loss": 0.5, "indicators": ["overgewicht", "taalachterstand"]}},
}


def spec(**changes: object) -> dict:
    raw = {**GOOD, **changes}
    return {k: v for k, v in raw.items() if v is not None}


def test_good_spec_parses_and_round_trips() -> None:
    s = RoundSpec.from_toml(tomli_w.dumps(GOOD), known_nodes=["gemeente", "ggd", "school"])
    assert s.parties == ("gemeente", "ggd")
    assert [b.label for b in s.age_bands] == ["0-3", "4-11", "12-17"]
    assert s.band_of(3) == 0 and s.band_of(4) == 1 and s.band_of(17) == 2 and s.band_of(18) is None
    assert [n.party for n in s.sources] == ["ggd"]
    again = RoundSpec.from_toml(s.to_toml())
    assert again == s


def test_touching_bands_are_half_open() -> None:
    s = RoundSpec.from_mapping(spec(age_bands=["0-4", "4-12", "12-18"]))
    assert [(b.low, b.high) for b in s.age_bands] == [(0, 3), (4, 11), (12, 17)]


@pytest.mark.parametrize("changes, field", [
    ({"version": 3}, "version"),
    ({"version": 2}, "gemeente"),  # version 2 names an area
    ({"period": 1800}, "period"),
    ({"gemeente": "Zwolle"}, "gemeente"),
    ({"level": "provincie"}, "level"),
    ({"age_bands": ["0-3", "2-11"]}, "age_bands"),
    ({"age_bands": ["0-30"]}, "age_bands"),
    ({"spine": "school"}, "spine"),
    ({"min_cell_size": -1}, "min_cell_size"),
    ({"nodes": {}}, "nodes"),
    ({"nodes": {"ggd": {"privacy_loss": -1, "indicators": ["x"]}}}, "nodes.ggd.privacy_loss"),
    ({"nodes": {"ggd": {"privacy_loss": 1e9, "indicators": ["x"]}}}, "nodes.ggd.privacy_loss"),
    ({"nodes": {"ggd": {"privacy_loss": 1, "indicators": []}}}, "nodes.ggd.indicators"),
    ({"extra": 1}, "extra"),
    ({"joint_weight": 0}, "joint_weight"),
    ({"joint_weight": 1.5}, "joint_weight"),
    ({"joint_weight": "half"}, "joint_weight"),
])
def test_bad_fields_are_named(changes: dict, field: str) -> None:
    with pytest.raises(SpecError) as err:
        RoundSpec.from_mapping(spec(**changes))
    assert f"{field}:" in str(err.value)


def test_unknown_node_is_named_with_the_known_ones() -> None:
    raw = spec(nodes={**GOOD["nodes"], "politie": {"privacy_loss": 1, "indicators": ["incidenten"]}})
    with pytest.raises(SpecError) as err:
        RoundSpec.from_mapping(raw, known_nodes=["gemeente", "ggd", "school"])
    assert "nodes.politie: unknown node 'politie'" in str(err.value)
    assert "gemeente, ggd, school" in str(err.value)


def test_all_problems_listed_at_once() -> None:
    with pytest.raises(SpecError) as err:
        RoundSpec.from_mapping(spec(period="x", gemeente="x", level="x"))
    assert "3 problem(s)" in str(err.value)


def test_same_indicator_at_two_nodes_refused() -> None:
    raw = spec(nodes={"gemeente": {"privacy_loss": 1, "indicators": ["a"]},
                      "ggd": {"privacy_loss": 1, "indicators": ["a"]}})
    with pytest.raises(SpecError, match="also asked of gemeente"):
        RoundSpec.from_mapping(raw)


def test_not_toml() -> None:
    with pytest.raises(SpecError, match="not valid TOML"):
        RoundSpec.from_toml("version = = 1")


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_privacy_loss_accepted_only_in_range(eps: float) -> None:
    raw = spec(nodes={"gemeente": {"privacy_loss": eps, "indicators": ["a"]}})
    if 0 < eps <= 10:
        assert RoundSpec.from_mapping(raw).node("gemeente").privacy_loss == eps
    else:
        with pytest.raises(SpecError):
            RoundSpec.from_mapping(raw)


THREE = {**GOOD, "nodes": {**GOOD["nodes"], "school": {"privacy_loss": 1.0, "indicators": ["verzuim"]},
                            "wijkteam": {"privacy_loss": 1.0, "indicators": ["hulp"]}}}


def test_joint_chains_edges_and_costs() -> None:
    raw = {**THREE, "joint": [
        {"name": "eenouder_en_overgewicht", "attributes": ["gemeente:eenoudergezin", "ggd:overgewicht"]},
        {"name": "risico", "kind": "count", "attributes": ["gemeente:eenoudergezin", "gemeente:bijstand",
                                                            "ggd:overgewicht", "school:verzuim"]}]}
    s = RoundSpec.from_mapping(raw)
    pair, count = s.joint
    assert s.chain(pair) == ("gemeente", "ggd") and s.chain(count) == ("gemeente", "ggd", "school")
    assert s.levels(pair) == 1 and s.levels(count) == 1 + 2 + 1 + 1
    assert count.level_names() == ("risico_0", "risico_1", "risico_2", "risico_3plus")
    assert s.relay_edges() == (("gemeente", "ggd"), ("gemeente", "school"), ("gemeente", "wijkteam"),
                               ("ggd", "school"))
    # d_in: marginals + population (spine), then 1 per "all" joint + 2 per count histogram
    assert [s.d_marginal(p) for p in s.parties] == [1 + 1, 2, 1, 1]
    assert [s.d_joint(p) for p in s.parties] == [1 + 2, 1 + 2, 2, 0]
    plan = s.noise_plan("ggd")  # privacy_loss 0.5, joint_weight 0.5 by default: 2/b + 3/(2b) = 0.5
    assert s.joint_weight == 0.5 and plan.marginal.scale == pytest.approx(7) and plan.joint.scale == pytest.approx(14)
    assert [j.name for j in s.joint_released_by("school")] == ["risico"]
    assert RoundSpec.from_toml(s.to_toml()) == s


@pytest.mark.parametrize("joint, field, why", [
    ({"name": "x", "kind": "sum", "attributes": ["gemeente:a", "ggd:b"]}, "joint[0].kind", "one of"),
    ({"name": "x", "kind": "count", "cap": 0, "attributes": ["gemeente:a", "ggd:b"]}, "joint[0].cap", "1 to 9"),
    ({"name": "x", "attributes": ["gemeente:a", "elders:b"]}, "joint[0].attributes", "node of this round"),
    ({"name": "eenoudergezin", "attributes": ["gemeente:a", "ggd:b"]}, "joint[0].name", "already"),
])
def test_bad_joint_is_named(joint: dict, field: str, why: str) -> None:
    with pytest.raises(SpecError) as exc:
        RoundSpec.from_mapping({**THREE, "joint": [joint]})
    assert field in str(exc.value) and why in str(exc.value)


def test_a_chain_spans_every_holder_up_to_max_chain() -> None:
    """Every node of a chain merges its noise share into one offset, so a chain may visit up to
    MAX_CHAIN nodes; beyond that, or with shares too wide for their slot, the spec says what to change."""
    many = {**GOOD, "nodes": {f"n{i}": {"privacy_loss": 1.0, "indicators": [f"x{i}"]} for i in range(1, MAX_CHAIN + 1)}}
    many["nodes"]["gemeente"] = GOOD["nodes"]["gemeente"]
    five = {**many, "joint": [{"name": "vijf", "kind": "count",
                               "attributes": ["gemeente:eenoudergezin", *(f"n{i}:x{i}" for i in range(1, 5))]}]}
    s = RoundSpec.from_mapping(five)
    assert s.chain(s.joint[0]) == ("gemeente", "n1", "n2", "n3", "n4") and s.levels(s.joint[0]) == 6
    assert [j.name for j in s.joint_released_by("n4")] == ["vijf"]
    too_long = {**many, "joint": [{"name": "alle", "attributes": [f"n{i}:x{i}" for i in range(1, MAX_CHAIN + 1)]}]}
    with pytest.raises(SpecError, match=f"visits {MAX_CHAIN + 1} nodes; at most {MAX_CHAIN}"):
        RoundSpec.from_mapping(too_long)
    tiny = {**five, "nodes": {**five["nodes"], "n3": {"privacy_loss": 0.001, "indicators": ["x3"]}}}
    with pytest.raises(SpecError, match=r"joint.vijf: the noise share of n3 .* privacy_loss of at least"):
        RoundSpec.from_mapping(tiny)


REGION = {
    "version": 2, "period": 2024, "area": "GG0716", "area_name": "GGD IJsselland",
    "spines": {"GM0193": "brp_zwolle", "GM0148": "brp_dalfsen"},
    "nodes": {"brp_zwolle": {"privacy_loss": 1.0, "indicators": ["eenoudergezin"]},
              "brp_dalfsen": {"privacy_loss": 1.0, "indicators": ["eenoudergezin"]},
              "ggd": {"privacy_loss": 1.0, "indicators": ["overgewicht"]}},
}


def test_region_joint_chains_start_at_every_spine() -> None:
    """A joint attribute naming any spine is every spine's; each spine seals its own children
    and relays them to the first holder, which continues one chain."""
    raw = {**REGION, "nodes": {**REGION["nodes"], "school": {"privacy_loss": 1.0, "indicators": ["verzuim"]}},
           "joint": [{"name": "j", "attributes": ["brp_zwolle:eenoudergezin", "ggd:overgewicht"]},
                     {"name": "r", "kind": "count", "attributes": ["brp_dalfsen:eenoudergezin", "brp_dalfsen:bijstand",
                                                                   "ggd:overgewicht", "school:verzuim"]},
                     {"name": "s", "attributes": ["brp_zwolle:eenoudergezin", "brp_zwolle:bijstand"]}]}
    s = RoundSpec.from_mapping(raw)
    pair, count, spine_only = s.joint
    assert pair.attributes[0] == ("brp_dalfsen", "eenoudergezin")  # written at the first spine
    assert s.chain(pair) == ("brp_dalfsen", "brp_zwolle", "ggd")
    assert s.chain(count) == ("brp_dalfsen", "brp_zwolle", "ggd", "school")
    assert s.joint_at(count, "brp_zwolle") == s.joint_at(count, "brp_dalfsen") == ("eenoudergezin", "bijstand")
    assert s.levels(count) == 1 + 2 + 1 + 1  # the spines' attributes count once
    assert s.previous_hops(count, "ggd") == ("brp_dalfsen", "brp_zwolle")
    assert s.previous_hops(count, "school") == ("ggd",)
    assert s.next_hop(count, "brp_zwolle") == s.next_hop(count, "brp_dalfsen") == "ggd"
    assert ("brp_dalfsen", "brp_zwolle") not in s.relay_edges() and ("ggd", "school") in s.relay_edges()
    assert s.joint_noise_parties(count) == ("brp_dalfsen", "ggd", "school")  # one spine's share per cell
    assert [j.name for j in s.joint_released_by("brp_zwolle")] == [j.name for j in s.joint_released_by("brp_dalfsen")] \
        == ["s"]  # a joint of the spines only: each releases its own gemeente's
    assert s.d_joint("brp_zwolle") == s.d_joint("brp_dalfsen") == 1 + 2 + 1
    assert RoundSpec.from_toml(s.to_toml()) == s


def test_version_1_reads_as_a_gemeente_area_and_writes_version_2() -> None:
    s = RoundSpec.from_mapping(GOOD)
    assert (s.area, s.gemeenten, s.spine_parties, s.is_region) == ("GM0193", ("GM0193",), ("gemeente",), False)
    assert s.gemeente == "GM0193" and s.spine == "gemeente"
    out = s.to_mapping()
    assert out["version"] == 2 and out["area"] == "GM0193" and "gemeente" not in out
    assert RoundSpec.from_toml(s.to_toml()) == s


def test_region_spec_names_each_gemeentes_spine() -> None:
    s = RoundSpec.from_mapping(REGION)
    assert s.is_region and s.gemeenten == ("GM0148", "GM0193")  # sorted by code
    assert s.spine_parties == ("brp_dalfsen", "brp_zwolle")
    assert [n.party for n in s.sources] == ["ggd"]
    assert set(s.relay_edges()) == {("brp_zwolle", "ggd"), ("brp_dalfsen", "ggd")}
    assert s.gemeente_of_spine("brp_zwolle") == "GM0193"
    with pytest.raises(ValueError):
        s.spine  # noqa: B018  (a region has no single spine)
    # a child is counted by one spine: the round's cost is the sources' plus one spine's
    assert s.epsilon_of_round() == pytest.approx(2.0)
    assert RoundSpec.from_toml(s.to_toml()) == s


@pytest.mark.parametrize("changes, field", [
    ({"spines": {"GM0193": "brp_zwolle", "GM0148": "brp_zwolle"}}, "spines"),
    ({"spines": {"GM0193": "brp_zwolle", "Dalfsen": "brp_dalfsen"}}, "spines.Dalfsen"),
    ({"spines": {"GM0193": "brp_zwolle", "GM0148": "politie"}}, "spines.GM0148"),
    ({"spines": {}}, "spines"),
    ({"spine": "brp_zwolle"}, "spine"),
    ({"area": "gg 0716"}, "area"),
    ({"nodes": {**REGION["nodes"], "brp_dalfsen": {"privacy_loss": 0.5, "indicators": ["eenoudergezin"]}}},
     "spines"),
])
def test_bad_region_fields_are_named(changes: dict, field: str) -> None:
    with pytest.raises(SpecError) as err:
        RoundSpec.from_mapping({**REGION, **changes})
    assert f"{field}:" in str(err.value)


def test_a_gemeente_area_takes_one_spine_not_a_table() -> None:
    with pytest.raises(SpecError) as err:
        RoundSpec.from_mapping({**REGION, "area": "GM0193"})
    assert "spines: a gemeente round has one `spine`" in str(err.value)
