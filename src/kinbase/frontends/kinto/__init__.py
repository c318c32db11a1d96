"""kinto."""
