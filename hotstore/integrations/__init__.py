"""Framework integrations: hotstore as the storage of aiogram and python-telegram-bot bots.

Each integration is a module importing only its own framework, installed by its extra.
"""
