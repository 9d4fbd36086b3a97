"""hotstore: Redis-fronted, SQL-backed state for multi-bot Telegram systems."""
