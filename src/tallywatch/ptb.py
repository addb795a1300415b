"""python-telegram-bot, imported without ``cryptography``: it loads it for Telegram Passport,
which tallywatch does not use (about 7.5 MB; ``lean.py``). ``bot.py`` and ``channels/telegram.py``
import this before ``telegram``."""

from .lean import without

with without("cryptography"):
    import telegram  # noqa: F401
