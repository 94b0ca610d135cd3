"""Data migrations as code: the files under migrations/<component>/, loaded, run over a table's
items with conditional writes, checkpointed in the env's state bucket and recorded in its
ledger (see migrations/README.md)."""
