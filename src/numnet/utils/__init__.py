"""Shared plumbing with no knowledge of networks: argument checks, the registry mechanism, atomic file
writes, the NPZ + JSON archive format and plain-text tables. Everything else in numnet may import it."""
