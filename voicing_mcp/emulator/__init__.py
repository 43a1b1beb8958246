"""The Voicing API emulator: the documented HTTP and WebSocket API, in memory, for tests and demos.

``state.py`` holds the world (assistants from the prompt templates, calls on a virtual clock, armed
faults, the request log); ``calls.py`` a call's life (the outcome table, timings, transcript, its view
at a virtual time); ``faults.py`` the faults it can inject; ``app.py`` the Starlette HTTP surface and
``chat.py`` its chatbot WebSocket; ``runner.py`` runs it under uvicorn in the current event loop
(``serve_emulator``) or on a thread (``emulator_in_thread``); ``voicing-mcp emulator`` is
:mod:`voicing_mcp.cli.emulator`. Nothing here imports the server or the guard, and nothing is imported
at package import time.
"""
