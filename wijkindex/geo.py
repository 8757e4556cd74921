"""Deprecated: use :mod:`wijkindex.geography`. Kept as a re-export for one version."""

from __future__ import annotations

from wijkindex.geography.base import Geography
from wijkindex.geography.zwolle2014 import (AGE_SHARES, DEFAULT_DATA_DIR, WIJK_NAMES, buurt_polygons, load_zwolle,
                                             recover_inhabitants)

__all__ = ["AGE_SHARES", "DEFAULT_DATA_DIR", "WIJK_NAMES", "Geography", "buurt_polygons", "load_zwolle",
           "recover_inhabitants"]
