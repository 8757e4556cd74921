"""``python -m wijkindex`` is the ``wijkindex`` command."""

from wijkindex.cli import main

main()
