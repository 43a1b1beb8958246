"""What is served over HTTP: the SSE and streamable-HTTP transports and their security (``transports``,
``security``), and the loopback confirm page that only a human reaches (``confirm_page``, ``confirm_flow``)."""
