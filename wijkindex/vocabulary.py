"""The names every part of wijkindex shares: released vectors, the noise mechanism, the 90%
z-value, the area columns per level. One definition each, so a node, the aggregator and the
estimators cannot drift apart on what a word means."""

from __future__ import annotations

POPULATION = "population"  # the spine's released count of registered children per cell
LINKAGE = "linkage"  # a fuzzy node's report: children linked exactly, fuzzily, not linked
MECHANISM = "discrete_laplace"  # the only noise mechanism a node adds (OpenDP make_laplace on integers)
Z90 = 1.6448536269514722  # the standard normal's 95th percentile: a two-sided 90% interval
TOTAL_BAND = "0-17"  # the age band of a figure over all bands together
AREA_COLUMNS = {"wijk": ("wijk_code", "wijk_name"), "buurt": ("buurt_code", "buurt_name")}
