"""Tests of hotstore.durable: badges, payments, promocodes, subscriptions and access, training history, user deletion
and their fuzz.
"""
