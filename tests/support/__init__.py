"""Shared test support: real servers and fixture writers used by several test packages.

Why a package of its own: the Hugging Face Hub stand-in is used by the remote-source tests (``tests/remote``),
the gateway tests and the hub-scan benchmark; keeping it here gives them one implementation of the protocol.
Import it as ``from support.hubserver import HubServer`` (``tests/`` is on ``sys.path`` through conftest).
"""
