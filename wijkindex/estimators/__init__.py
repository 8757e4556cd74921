"""The estimators: every figure the index publishes, computed from the noised releases.

Pure post-processing of released counts (no privacy cost): index assembly (``index``),
small-area estimates (``smoothing``), consistent cumulative-risk levels (``consistency``),
composite scores (``composite``) and relative risks (``relative_risk``). The aggregator's
service (``wijkindex.aggregator``) finalises a round and hands the releases here.
"""
