"""The action space and everything pure around it: actions, parsers, coordinates, policy, frames.

This package imports nothing from ``sandbox``, ``tasks`` or ``agent``.
"""
