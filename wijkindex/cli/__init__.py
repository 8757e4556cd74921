"""The ``wijkindex`` command: one subcommand per role and task, each with an example.

``base`` holds the group; each module beside it adds the commands of one part of the work.
"""

from wijkindex.cli.base import main
from wijkindex.cli import demo, linkage, rounds, services, setup  # noqa: F401 (they register their commands)

__all__ = ["main", "demo", "linkage", "rounds", "services", "setup"]
