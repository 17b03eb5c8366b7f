"""The web layer: REST API, dashboard pages and build logs (aiohttp)."""
