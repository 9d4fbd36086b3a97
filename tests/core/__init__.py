"""Tests of hotstore.core: the store contract, sessions, leaderboards, validation, round trips, the auto-pipelined
client, read-through and the fuzz of the store.
"""
