"""Rendering: the JSON envelope and rich text, both from the same plain dicts."""
