"""The status page (`invoke report`): what runs where, read from the ledgers, the state, the
backups, the alarms, the offline price table and the drift and verify result files, written
as one self-contained HTML page (and the same data as JSON)."""
