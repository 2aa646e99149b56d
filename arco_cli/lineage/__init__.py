"""Delta Lake lineage: writing task outputs with stamped commits, and checking them later."""
