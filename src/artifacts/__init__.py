"""The artifact store, its config-hash keys, and one file layout per artifact kind."""
