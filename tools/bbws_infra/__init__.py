"""Task runner behind `invoke`, one subpackage per part of the system. Each part imports only
parts below it, lowest first: core, engine, inputs, docs, state, targets, plans, release,
pipeline, gates, bench, commands (tests/unit/repository/test_layering.py keeps it so)."""
