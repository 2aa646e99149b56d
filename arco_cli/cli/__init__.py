"""Command-line layer: Typer commands, options, exit codes. No domain logic lives here."""
