"""Search: typed queries in, typed results out; video moments and reverse video search."""
