"""The query engine: a protocol-neutral AST, its parsers, a reference evaluator and SQL compilers."""
