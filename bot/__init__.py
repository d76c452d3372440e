"""The app: customer channels, routing to Rasa, pages and health (aiohttp)."""
