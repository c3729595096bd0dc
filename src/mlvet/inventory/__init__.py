"""ML asset inventory: discovery, grouping, fingerprints, change tracking (see :mod:`.model`)."""
