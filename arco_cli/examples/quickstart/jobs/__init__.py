"""Example task code of the arco quickstart workspace."""
