"""Tests of the applications in hotstore.cli (command line, demo, benchmarks, migrate_json) and of the repository
files (README, compose).
"""
