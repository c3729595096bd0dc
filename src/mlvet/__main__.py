"""``python -m mlvet`` runs the command line."""

from mlvet.cli import main

main()
