"""HTTP glue shared by the front-ends: responses, bodies, request ids, the last-resort error guard."""
