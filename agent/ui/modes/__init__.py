"""One module per mode of the front end: ``chat``, ``grounding`` and ``agent``. Each has the turn that
answers a message in that mode; ``app`` picks the mode and calls it."""
