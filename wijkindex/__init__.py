"""wijkindex: privacy-preserving federated linkage into differentially private wijk indices.

Subpackages follow the roles and layers of a linkage round:

- ``linkage``   identifier validation, normalisation and keyed pseudonyms
- ``protocol``  round spec, packing, Paillier sealing and the end-to-end envelope
- ``privacy``   OpenDP noise, margins of error and the persistent privacy ledger
- ``security``  the federation PKI, TLS credentials and role-based authorisation
- ``proto``     the wire contract (``wijkindex.v1``) and its generated stubs
- ``nodes``     the data-holder daemon
- ``aggregator`` the gRPC server, its SQLite store and the index assembly
- ``synth``     the synthetic federation calibrated on real Zwolle geography
- ``report``    the HTML report
"""

__version__ = "0.1.0"
