"""api keys feature."""
