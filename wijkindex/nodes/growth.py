"""The IOTF body-mass-index cut-offs for overweight in children (ages 2 to 18), and BMI.

Source: Cole TJ, Bellizzi MC, Flegal KM, Dietz WH. Establishing a standard definition for child
overweight and obesity worldwide: international survey. BMJ 2000;320:1240-3, table 4
("International cut off points for body mass index for overweight and obesity by sex between 2
and 18 years"): per sex, the BMI centile curve that passes through BMI 25 at age 18, averaged
over six national growth surveys (Brazil, Great Britain, Hong Kong, the Netherlands, Singapore,
the United States). The values are given for exact half years; between them the cut-off is
interpolated linearly. The JGZ-richtlijn Overgewicht (2012) uses these cut-offs from age 2; below
2 there is no validated BMI cut-off (the JGZ uses weight for length there), so there is none here.

The overweight cut-off includes obesity (BMI 30 at 18): a child at or above it is overweight or
obese. Cole and Lobstein (Pediatric Obesity 2012;7:284-94) re-expressed the cut-offs as LMS
centiles by month with differences in the second decimal; this module keeps the 2000 table.
"""

from __future__ import annotations

from datetime import date

import numpy as np

YOUNGEST, OLDEST = 2.0, 18.0  # the ages (exact years) the table covers
AGES = np.arange(YOUNGEST, OLDEST + 0.25, 0.5)  # 2.0, 2.5, ..., 18.0
# BMI (kg/m2) at or above which a child of that exact age is overweight (Cole et al. 2000, table 4)
BOYS = np.array([18.41, 18.13, 17.89, 17.69, 17.55, 17.47, 17.42, 17.45, 17.55, 17.71, 17.92, 18.16, 18.44,
                 18.76, 19.10, 19.46, 19.84, 20.20, 20.55, 20.89, 21.22, 21.56, 21.91, 22.27, 22.62, 22.96,
                 23.29, 23.60, 23.90, 24.19, 24.46, 24.73, 25.00])
GIRLS = np.array([18.02, 17.76, 17.56, 17.40, 17.28, 17.19, 17.15, 17.20, 17.34, 17.53, 17.75, 18.03, 18.35,
                  18.69, 19.07, 19.45, 19.86, 20.29, 20.74, 21.20, 21.68, 22.14, 22.58, 22.98, 23.34, 23.66,
                  23.94, 24.17, 24.37, 24.54, 24.70, 24.85, 25.00])
assert len(AGES) == len(BOYS) == len(GIRLS) == 33

# a measurement outside these is a unit error (mm or m for cm, grams for kg) or a typing error
LENGTH_CM = (40.0, 230.0)
WEIGHT_KG = (2.0, 300.0)


def overweight_cutoff(age: float, female: bool) -> float | None:
    """The IOTF overweight BMI cut-off at an exact age in years; None below 2 or above 18."""
    if not YOUNGEST <= age <= OLDEST:
        return None
    return float(np.interp(age, AGES, GIRLS if female else BOYS))


def bmi(length_cm: float, weight_kg: float) -> float:
    """Body mass index: weight in kg over the square of the length in metres."""
    return weight_kg / (length_cm / 100.0) ** 2


def plausible(length_cm: float, weight_kg: float) -> bool:
    return LENGTH_CM[0] <= length_cm <= LENGTH_CM[1] and WEIGHT_KG[0] <= weight_kg <= WEIGHT_KG[1]


def _birthday(born: date, year: int) -> date:
    try:
        return born.replace(year=year)
    except ValueError:  # born on 29 February: 1 March in other years, as completed ages count it
        return date(year, 3, 1)


def exact_age(born: date, on: date) -> float:
    """Age in years on a day: the completed years plus the part of the current year of life
    (days since the last birthday over the days to the next), so a second birthday is exactly 2.0."""
    years = on.year - born.year
    if _birthday(born, on.year) > on:
        years -= 1
    last, following = _birthday(born, born.year + years), _birthday(born, born.year + years + 1)
    return years + (on - last).days / (following - last).days
