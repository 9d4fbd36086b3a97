"""The hotstore test suite: one package per room of the library (see docs/design.md, "Testing")."""
