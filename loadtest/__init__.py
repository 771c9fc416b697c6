"""Tessera's load tests: data generators, the load driver, peers and reports (see loadtest/README.md)."""
