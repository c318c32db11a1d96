"""kinvey."""
