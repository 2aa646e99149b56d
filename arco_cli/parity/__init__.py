"""``arco parity-check``: the pre-merge gate over parity matrices (parity-check.md).

Layers, each a small module: :mod:`.markdown` reads matrix tables with exact line
numbers, :mod:`.evidence` reads evidence cells, :mod:`.workflow` models GitHub Actions
workflows, :mod:`.repo` and :mod:`.symbols` model the checked repository,
:mod:`.shell`, :mod:`.cargo` and :mod:`.pytest_selection` decide what a CI step runs,
:mod:`.rules` applies P001-P109, :mod:`.fixer` rewrites stale anchors and
:mod:`.reporters` renders the result.
"""
