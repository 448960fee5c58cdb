"""Starlette glue: parse the request, call the protocol, render the answer."""
