"""The hot store: users, bot sessions, XP and leaderboards in Redis, read through from SQL.

Everything here runs on the bot's side of the system: settings, the key scheme, the codec, the Lua scripts and
their registry, input validation, and the async store API (:class:`~hotstore.core.store.HotStore`). It imports
only :mod:`persistence` below it; the public names are re-exported by :mod:`hotstore`.
"""
