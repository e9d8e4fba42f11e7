"""jobrunner: a control plane for scheduled scripts.

The package imports nothing at the top, so that the worker daemon, which only
needs :mod:`jobrunner.signing` and :mod:`jobrunner.worker`, can run on hosts
without the server's dependencies. The WSGI application is built by
:func:`jobrunner.app.main`.
"""
