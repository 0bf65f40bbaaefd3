"""Minimal apps of the peers the event path is compared against.

Each module exposes an ASGI ``app`` that uvicorn serves with the same settings as the
rendered service. Every app accepts a CloudEvent and answers 2xx with an empty body, so
the benchmark compares the cost of the framework and the CloudEvents binding, not of
user code.
"""
