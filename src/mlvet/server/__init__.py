"""``mlvet serve``: one ASGI application (FastAPI) on the inventory database.

It carries the organisation inventory (machines push their runs, tools upload ML-BOMs), the hub gateway and
the dashboard, all behind API tokens with scopes (:mod:`mlvet.server.auth`) and request limits
(:mod:`mlvet.server.limits`). The app is built by :func:`mlvet.server.app.create_app`; routers register in
its ``ROUTERS`` list.

Importing this package imports nothing heavy: :mod:`mlvet.server.config` and :mod:`mlvet.server.wire` are
used by the command line (``mlvet token``, ``mlvet inventory --push``) without FastAPI installed.
"""
