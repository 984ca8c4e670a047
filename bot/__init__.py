"""echowall: a Telegram bot for neighbourhood case handling."""
