"""``python -m framefind``: the command line."""

from framefind.interfaces.cli import main

main()
