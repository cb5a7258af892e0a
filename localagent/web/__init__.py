"""The web side: the FastAPI server, the guard in front of it, the port check, the page."""
