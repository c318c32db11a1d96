"""postgresql."""
