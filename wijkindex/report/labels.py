"""The report's words: indicator and source labels in Dutch and English, age band names, and
``tr`` (Dutch text with its English for the language switch)."""

from __future__ import annotations

import html
from typing import Mapping, Sequence

from wijkindex.protocol.spec import parse_age_bands

LABELS = {
    "eenoudergezin": "Kinderen in een eenoudergezin",
    "bijstand": "Kinderen in een gezin met bijstand",
    "schuldhulp": "Kinderen in een gezin met schuldhulpverlening",
    "jeugdhulp": "Kinderen met jeugdhulp",
    "ots_uithuisplaatsing": "Kinderen met een OTS of uithuisplaatsing",
    "huurtoeslag": "Kinderen in een huurwoning met huurtoeslag",
    "overgewicht": "Kinderen met overgewicht",
    "taalachterstand": "Kinderen met een taalachterstand",
    "psychosociale_problemen": "Kinderen met gesignaleerde psychosociale problemen",
    "onderwijsachterstand": "Leerlingen met een onderwijsachterstand",
    "verzuim": "Leerlingen met schoolverzuim",
    "vve_indicatie": "Kinderen met een VVE-indicatie",
    "vve_deelname": "Kinderen met een VVE-indicatie die VVE volgen",
    "sport_cultuur": "Leerlingen die sporten of een kunst- of muziekvak volgen",
    "stabiele_schoolloopbaan": "Leerlingen met een stabiele schoolloopbaan",
    "moeder_werkloos": "Kinderen van een moeder zonder werk",
    "jonge_moeder": "Kinderen van een moeder jonger dan 30 bij het eerste kind",
    "eenouder_en_psychosociaal": "Kinderen in een eenoudergezin met psychosociale problemen",
    "smartstart_profiel": "Kinderen met het Smart Start-risicoprofiel",
    "smartstart_en_jeugdhulp": "Kinderen met het Smart Start-profiel en jeugdhulp",
    "smartstart_en_onderwijsachterstand": "Kinderen met het Smart Start-profiel en een onderwijsachterstand",
    "cumulatief_risico_0": "Kinderen zonder risicofactoren",
    "cumulatief_risico_1": "Kinderen met 1 risicofactor",
    "cumulatief_risico_2": "Kinderen met 2 risicofactoren",
    "cumulatief_risico_3plus": "Kinderen met 3 of meer risicofactoren",
}
LABELS_EN = {
    "eenoudergezin": "Children in a single-parent household",
    "bijstand": "Children in a household on social assistance",
    "schuldhulp": "Children in a household in debt counselling",
    "jeugdhulp": "Children in youth care",
    "ots_uithuisplaatsing": "Children under a supervision order or placed out of home",
    "huurtoeslag": "Children in a rented home with rent benefit",
    "overgewicht": "Children who are overweight",
    "taalachterstand": "Children with a language delay",
    "psychosociale_problemen": "Children with signalled psychosocial problems",
    "onderwijsachterstand": "Pupils with an educational disadvantage",
    "verzuim": "Pupils with school absenteeism",
    "vve_indicatie": "Children with a VVE (early education) indication",
    "vve_deelname": "Children with a VVE indication who attend VVE",
    "sport_cultuur": "Pupils who take part in sports, arts or music",
    "stabiele_schoolloopbaan": "Pupils with a stable school career",
    "moeder_werkloos": "Children of a mother without work",
    "jonge_moeder": "Children of a mother under 30 at her first child",
    "eenouder_en_psychosociaal": "Children in a single-parent household with psychosocial problems",
    "smartstart_profiel": "Children with the Smart Start risk profile",
    "smartstart_en_jeugdhulp": "Children with the Smart Start profile and youth care",
    "smartstart_en_onderwijsachterstand": "Children with the Smart Start profile and an educational disadvantage",
    "cumulatief_risico_0": "Children with no risk factors",
    "cumulatief_risico_1": "Children with 1 risk factor",
    "cumulatief_risico_2": "Children with 2 risk factors",
    "cumulatief_risico_3plus": "Children with 3 or more risk factors",
}
SOURCES = {"gemeente": "gemeente", "ggd": "GGD", "school": "schoolbesturen", "gemeente+ggd": "gemeente en GGD",
           "gemeente+school": "gemeente en schoolbesturen", "gemeente+ggd+school": "gemeente, GGD en schoolbesturen"}
NOT_APPLICABLE = ("<td class='na' title='buiten de leeftijden van deze indicator / outside this indicator&#39;s "
                  "ages'>n.v.t.</td>")


def label(indicator: str) -> str:
    return LABELS.get(indicator, indicator)


def label_en(indicator: str) -> str:
    return LABELS_EN.get(indicator, indicator)


def tr(nl: str, en: str) -> str:
    """Text shown in Dutch, with its English for the language switch (both escaped here)."""
    return f'<span data-en="{html.escape(en)}">{html.escape(nl)}</span>'


def band_names(labels: Sequence[str]) -> dict[str, tuple[str, str]]:
    """What each age band label means, in Dutch and English, as CBS writes it: "0-3" of
    inclusive bands is "0 t/m 3 jaar"; "4-12" of touching, half-open bands is "4 tot 12 jaar"
    (4 up to but not including 12)."""
    try:
        bands = parse_age_bands(labels)
    except ValueError:
        return {b: (f"{b} jaar", f"{b} years") for b in labels}
    out = {}
    for b in bands:
        upper = int(b.label.split("-")[1])
        if upper == b.high + 1:
            out[b.label] = (f"{b.low} tot {upper} jaar", f"{b.low} to under {upper} years")
        else:
            out[b.label] = (f"{b.low} t/m {b.high} jaar", f"{b.low} to {b.high} years")
    return out


def tr_band(band: str, names: Mapping[str, tuple[str, str]]) -> str:
    nl, en = names.get(band, (f"{band} jaar", f"{band} years"))
    return tr(nl, en)


def tr_label(indicator: str) -> str:
    return tr(label(indicator), label_en(indicator))
