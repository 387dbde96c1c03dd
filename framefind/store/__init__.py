"""The library on disk: the SQLite catalog (source of truth), its migrations, and derived vector indexes."""
