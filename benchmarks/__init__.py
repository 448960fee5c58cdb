"""Benchmark harness for asgi_oauth: our server side by side with the stack's ceiling and the peers.

Run with ``python -m benchmarks`` (``--quick`` for a short run); see ``python -m benchmarks --help``.
"""
