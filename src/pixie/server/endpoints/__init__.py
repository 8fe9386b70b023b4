"""Thin Starlette handlers: parse the request, call the protocol layer, render the result."""
