"""``hotstore demo``: simulated traffic over several bots, a live view, and the closing SQL = Redis verdict."""
