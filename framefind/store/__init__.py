"""The library on disk: the SQLite catalog (source of truth), its schema upgrades, and derived vector indexes."""
