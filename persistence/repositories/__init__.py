"""v4 repositories, race-free."""
