"""``python -m arco_cli``."""

from arco_cli.cli.main import main

main()
