"""``wijkindex demo``: a whole federation on this machine, from synthetic files to a report."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from wijkindex.clients import AggregatorClient
from wijkindex.errors import WijkindexError
from wijkindex.federation import LocalFederation, Processes, lay_out, round_spec, start_processes
from wijkindex.geography import geography_for, load_gemeente
from wijkindex.protocol import messages as m


@dataclass
class DemoResult:
    out: Path
    round_id: str
    status: m.RoundStatus
    index: pd.DataFrame
    n_children: int
    timings: dict[str, float]
    peak_rss: dict[str, int]


def run_demo(out: Path, *, seed: int = 2014, scale: float = 1.0, epsilon: float = 1.0, years: int = 3,
             data_dir: Path | None = None, gemeente: str | None = None,
             console: Console | None = None) -> DemoResult:
    """Synth (``years`` periods), PKI, aggregator and nodes as processes; one round per period
    (the last with the joint indicators and cumulative risk); tables and report.html.
    ``gemeente``: a CBS gemeente (code or name) instead of Zwolle 2014 (or ``data_dir``)."""
    from wijkindex.clients import history_of, pooled_history_of, privacy_rows, write_table, write_tables
    from wijkindex.report.html import render_report
    from wijkindex.synth.generator import generate_federation

    console = console or Console(stderr=True)
    out = _new_folder(out)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    own_file = data_dir is not None and Path(data_dir).is_file()  # a wijk- en buurtkaart file (gemeente: of it)
    file_name = Path(data_dir).name if data_dir is not None else ""
    geo = geography_for(data_dir, gemeente)
    where = (f"{geo.gemeente_name}'s {len(geo.wijken)} wijken from {file_name}" if own_file
             else f"{geo.gemeente_name}'s {len(geo.wijken)} CBS wijken (2024)" if gemeente
             else f"{geo.gemeente_name}'s real geography")
    with console.status(f"generating the synthetic federation on {where}") as st:
        info = generate_federation(out / "federation", seed=seed, scale=scale, geography=geo, years=years,
                                   progress=lambda msg: st.update(msg))
    timings["synth"] = time.perf_counter() - t0
    console.print(f"[green]1/5[/] synthetic federation: {info.n_children:,} children in {len(geo.wijken)} wijken, "
                  f"holders {', '.join(info.holders)}, periods {', '.join(map(str, info.periods))}")
    marginal, joint = expected_minutes(info.n_children, len(geo.wijken))
    if joint >= 10:  # a large gemeente: say so before the wait
        console.print(f"      expect about {marginal:.0f} min per earlier-period round and {joint:.0f} min for the "
                      "last (joint indicators) on 2 cores; --scale 0.1 runs a tenth of the children")

    fed = lay_out(out, out / "federation", nodes=tuple(info.holders), geography_dir=data_dir,
                  gemeente=geo.gemeente_code if gemeente or own_file else None)
    console.print(f"[green]2/5[/] development PKI, linkage secret and configs under {out}")

    procs: Processes = start_processes(fed)
    try:
        console.print(f"[green]3/5[/] aggregator on {fed.address} and {len(fed.node_configs)} node processes "
                      "(mutual TLS; nodes dial out)")
        deadline = round_deadline(info.n_children, len(geo.wijken))
        with AggregatorClient.from_config(_client_cfg(fed, "coordinator")) as coord:
            for period in info.periods[:-1]:  # earlier periods: the marginal indicators, for the trend
                t = time.perf_counter()
                rid = coord.submit_round(round_spec(period, geo.gemeente_code, info.holders, epsilon=epsilon,
                                                    fuzzy=info.fuzzy, deadline_seconds=deadline))
                _follow(console, coord, rid, procs, deadline)
                timings["marginal_round"] = time.perf_counter() - t
                console.print(f"      round {rid} ({period}, marginal indicators) completed in "
                              f"{timings['marginal_round']:.1f} s")
            spec = round_spec(info.period, geo.gemeente_code, info.holders, epsilon=epsilon, joint=info.joint,
                              fuzzy=info.fuzzy, deadline_seconds=deadline,
                              cumulative=info.cumulative)
            (out / "round.toml").write_text(spec, encoding="utf-8")
            t1 = time.perf_counter()
            round_id = coord.submit_round(spec)
            status = _follow(console, coord, round_id, procs, deadline)
        timings["round"] = time.perf_counter() - t1
        console.print(f"[green]4/5[/] round {round_id} ({info.period}, with joint indicators and cumulative risk) "
                      f"completed in {timings['round']:.1f} s")
        with AggregatorClient.from_config(_client_cfg(fed, "researcher")) as researcher:
            index, status = researcher.get_index(round_id)
            pooled = researcher.get_pooled(round_id)
            history = history_of(researcher, index)
            pooled_history = pooled_history_of(researcher, history, pooled)
    finally:
        procs.stop()
    _, composite, rr = write_tables(index, out, pooled=pooled)  # index.csv/.parquet with the reference rows
    if history["period"].nunique() > 1:
        write_table(history, out / "history.csv")
    render_report(index, out / "report.html", title=f"Kinderindex {geo.gemeente_name} {info.period}",
                  privacy=privacy_rows(status), composite=composite, data_dir=None if own_file else data_dir,
                  relative_risk=rr,
                  history=history, geography=geo, pooled=pooled, pooled_history=pooled_history, notes=[
                      _geo_note(geo, bool(gemeente) or own_file, file_name if own_file else "2024"),
                      *((f"Koppeling {r['node']}: {r['linked_exact']:,} kinderen op BSN, {r['linked_fuzzy']:,} alleen op "
                         f"naam, geboortedatum en postcode (versleuteld), {r['not_linked']:,} records niet gekoppeld "
                         f"(met ruis, ±{r['moe90']:g}).",
                         f"Linkage {r['node']}: {r['linked_exact']:,} children by BSN, {r['linked_fuzzy']:,} only by "
                         f"name, date of birth and postcode (encrypted), {r['not_linked']:,} records not linked "
                         f"(noised, ±{r['moe90']:g}).") for r in index.attrs.get("linkage", []))])
    console.print(f"[green]5/5[/] wrote index.csv, index.parquet, composite.csv, relative_risk.csv, "
                  f"linkage.csv, {'reference.csv, ' if (out / 'reference.csv').exists() else ''}pooled.csv, "
                  f"history.csv and report.html in {out}")
    for rep in index.attrs.get("linkage", []):
        console.print(f"      {rep['node']}: {rep['linked_exact']:,} children linked by BSN, "
                      f"{rep['linked_fuzzy']:,} only on identifiers (records without a BSN), "
                      f"{rep['not_linked']:,} records not linked (noised, ±{rep['moe90']:g})")
    _summary(console, index, status, geo.gemeente_code)
    timings["total"] = time.perf_counter() - t0
    return DemoResult(out, round_id, status, index, info.n_children, timings, dict(procs.peak_rss))


def run_region_demo(out: Path, region: str, *, seed: int = 2014, scale: float = 1.0, epsilon: float = 1.0,
                    years: int = 3, console: Console | None = None) -> DemoResult:
    """A region's federation: a BRP node per gemeente (the spine of its own children), one
    regional GGD and one school board; a region round per period (marginal indicators: chains
    stay within one gemeente's round), the tables and a report of the region and its gemeenten."""
    from wijkindex.clients import history_of, pooled_history_of, privacy_rows, write_table, write_tables
    from wijkindex.geography import combine, load_region
    from wijkindex.report.html import render_report
    from wijkindex.synth.region import generate_region

    console = console or Console(stderr=True)
    out = _new_folder(out)
    t0 = time.perf_counter()
    reg = load_region(region)
    geos = [load_gemeente(g) for g in reg.gemeenten]
    with console.status(f"generating the synthetic federation of {reg.name} ({len(geos)} gemeenten)") as st:
        info = generate_region(out / "federation", geos, code=reg.code, name=reg.name, seed=seed, scale=scale,
                               years=years, progress=lambda msg: st.update(msg))
    fed_info = info.federation
    timings = {"synth": time.perf_counter() - t0}
    console.print(f"[green]1/4[/] synthetic region {reg.name} ({reg.code}): {fed_info.n_children:,} children in "
                  f"{len(geos)} gemeenten; nodes {', '.join(info.holders)}")
    fed = lay_out(out, fed_info.out_dir, nodes=tuple(info.holders), gemeenten=reg.gemeenten)
    procs: Processes = start_processes(fed)
    try:
        console.print(f"[green]2/4[/] aggregator on {fed.address} and {len(fed.node_configs)} node processes")
        deadline = round_deadline(fed_info.n_children, sum(len(g.wijken) for g in geos))
        with AggregatorClient.from_config(_client_cfg(fed, "coordinator")) as coord:
            for period in fed_info.periods:
                t = time.perf_counter()
                last = period == fed_info.periods[-1]  # the last with joint indicators and cumulative risk
                round_id = coord.submit_round(round_spec(period, reg.code, info.holders, epsilon=epsilon,
                                                         spines=info.spines, area_name=reg.name,
                                                         deadline_seconds=deadline,
                                                         fuzzy=fed_info.fuzzy, joint=info.joint if last else None,
                                                         cumulative=info.cumulative if last else None))
                status = _follow(console, coord, round_id, procs, deadline)
                timings["round"] = time.perf_counter() - t
                console.print(f"      round {round_id} ({period}{', with joint indicators' if last else ''}) "
                              f"{status.state} in {timings['round']:.1f} s")
        console.print(f"[green]3/4[/] {len(fed_info.periods)} region round(s) completed")
        with AggregatorClient.from_config(_client_cfg(fed, "researcher")) as researcher:
            index, status = researcher.get_index(round_id)
            pooled = researcher.get_pooled(round_id)
            history = history_of(researcher, index)
            pooled_history = pooled_history_of(researcher, history, pooled)
    finally:
        procs.stop()
    _, composite, rr = write_tables(index, out, pooled=pooled)
    if history["period"].nunique() > 1:
        write_table(history, out / "history.csv")
    render_report(index, out / "report.html", title=f"Kinderindex {reg.name} {fed_info.period}",
                  privacy=privacy_rows(status), composite=composite, relative_risk=rr, history=history,
                  geography=combine(geos, reg.code, reg.name), pooled=pooled, pooled_history=pooled_history, notes=[
                      (f"Synthetische gegevens op de echte wijken van de {len(geos)} gemeenten van {reg.name} (2024). "
                       "Bron: CBS, Kadaster.",
                       f"Synthetic data on the real wijken of the {len(geos)} municipalities of {reg.name} (2024). "
                       "Source: CBS, Kadaster.")])
    console.print(f"[green]4/4[/] wrote index.csv, composite.csv, pooled.csv, history.csv and report.html in {out}")
    timings["total"] = time.perf_counter() - t0
    return DemoResult(out, round_id, status, index, fed_info.n_children, timings, dict(procs.peak_rss))


def _new_folder(out: Path | str) -> Path:
    """The demo's output folder, refused if it holds anything (a demo never overwrites)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise WijkindexError(f"{out} is not empty; give the demo a new folder",
                             fix="choose another --out or remove the folder")
    return out


def _geo_note(geo, cbs: bool, label: str = "2024") -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """The report's line on what the synthetic data stands on (``label``: the CBS year or file)."""
    if not cbs:
        return (f"Synthetische gegevens op de echte wijken en buurten van {geo.gemeente_name} (2014).",
                f"Synthetic data on the real neighbourhoods of {geo.gemeente_name} (2014).")
    return (f"Synthetische gegevens op de echte wijken van {geo.gemeente_name} ({label}): inwoners en leeftijden van "
            "CBS; risicoaandelen per wijk zijn een model van de KWB-cijfers van de gemeente, geen CBS-cijfers. "
            "Bron: CBS, Kadaster.",
            f"Synthetic data on the real wijken of {geo.gemeente_name} ({label}): inhabitants and ages from CBS; "
            "per-wijk risk shares are modelled from the gemeente's KWB figures, not CBS figures. "
            "Source: CBS, Kadaster.")


def expected_minutes(children: int, areas: int) -> tuple[float, float]:
    """About how long a marginal and a joint round take on this project's 2-core machine: Zwolle
    (27,158 children, 16 wijken) took 22 s and about 100 s; the cost grows with children x areas."""
    return 5e-5 * children * areas / 60, 2.3e-4 * children * areas / 60


def round_deadline(children: int, areas: int) -> int:
    """A demo round's deadline: 15 minutes, or more for a large gemeente. A round's sealing grows
    with children x areas (each child's one-hot cell vector); Amsterdam at full size (160,000
    children, 109 wijken) sealed its joint round past the 900 s default on this 2-core machine
    (and past 30 minutes with other work running)."""
    return int(min(86400, max(900, 4e-4 * children * areas)))


def _client_cfg(fed: LocalFederation, party: str):  # type: ignore[no-untyped-def]
    from wijkindex.config import load_client_config

    return load_client_config(fed.coordinator_config if party == "coordinator" else fed.researcher_config)


def _follow(console: Console, client: AggregatorClient, round_id: str, procs: Processes,
            deadline: int) -> m.RoundStatus:
    """Wait for the round (a little past its deadline: the aggregator fails it then), showing its state."""
    with console.status(f"round {round_id}") as live:
        def show(s: m.RoundStatus) -> None:
            procs.check_alive()
            live.update(f"round {round_id}: [bold]{s.state}[/] | " +
                        ", ".join(f"{n.party}: {n.state}" for n in s.nodes))
        return client.wait_round(round_id, timeout=deadline + 120, on_status=show)


def _summary(console: Console, index: pd.DataFrame, status: m.RoundStatus, gemeente_code: str) -> None:
    """Per indicator: the gemeente rate per age band and the wijk clearly furthest above it."""
    table = Table(title="gemeente rate per age band (noised), and the wijk furthest above it "
                        "beyond its 90% margin")
    bands = list(dict.fromkeys(index["age_band"]))
    for col in ["indicator", "source", *bands, "clearly highest wijk (index)"]:
        table.add_column(col)
    from wijkindex.report.page import for_display

    shown = for_display(index)  # gemeente rates are unclipped estimates: clipped to 0-100% to show
    for (ind, src), g in index.groupby(["indicator", "source"], sort=False):
        gm = g[g["wijk_code"] == gemeente_code].set_index("age_band")
        show = shown.loc[g.index][g["wijk_code"] == gemeente_code].set_index("age_band")
        rates = [f"{show.loc[b, 'rate']:.1%}" if b in gm.index and pd.notna(gm.loc[b, "rate"]) else "-" for b in bands]
        ref = g["age_band"].map(gm["rate"])
        wijk = g[(g["wijk_code"] != gemeente_code) & g["index_vs_gemeente"].notna()
                 & (g["rate"] - g["moe90"] > ref)]  # above the gemeente beyond the noise
        top = wijk.loc[wijk["index_vs_gemeente"].astype(float).idxmax()] if len(wijk) else None
        table.add_row(str(ind), str(src), *rates,
                      f"{top['wijk_name']} {top['age_band']} ({top['index_vs_gemeente']:.0f})" if top is not None else "-")
    console.print(table)
    console.print("privacy: " + ", ".join(f"{c.party} epsilon {c.epsilon:g}" for c in status.costs) +
                  f"; a child held by every node: epsilon {status.per_child_epsilon:g} this round")
