"""Outputs of the stream: each runs in its own thread behind a bounded packet queue."""
