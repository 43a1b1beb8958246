"""The Voicing API emulator: the documented HTTP and WebSocket API, in memory, for tests and demos.

``state.py`` holds the world (assistants from the prompt templates, calls on a virtual clock, the
outcome table, faults, the request log); ``app.py`` the Starlette surface; ``runner.py`` runs it
under uvicorn in the current event loop (``serve_emulator``) or on a thread
(``emulator_in_thread``); ``cli.py`` is ``voicing-mcp emulator``. Nothing here imports the server
or the guard, and nothing is imported at package import time.
"""
