"""Build the WSGI application: the includes, in the order they must run."""

from pyramid.config import Configurator

from jobrunner import settings as settings_module
from jobrunner.ops import multiprocess


def main(global_config, **settings):
    """Build the WSGI application from the ini file's settings."""
    settings = settings_module.load(settings)
    # Before anything imports prometheus_client: see jobrunner.ops.multiprocess.
    multiprocess.share_counters(settings["metrics.multiprocess"])
    # Our own exception views (jobrunner.errors) answer every error in JSON.
    settings["handle_exceptions"] = False
    with Configurator(settings=settings) as config:
        # Database session per request, joined to pyramid_tm's transaction.
        config.include(".db")
        # Who is calling: HMAC signatures first, then the dashboard cookie.
        config.include(".security")
        # JSON errors for every status code, and the request body size limit.
        config.include(".errors")
        # /health, /ready and /metrics, and the tween counting every request.
        config.include(".ops")
        # Cornice and the API: the root listing, then each domain's resources.
        config.include("cornice")
        config.include(".api")
        config.include(".workers.views")
        config.include(".jobs.views")
        config.include(".accounts.api")
        # Login, logout and the dashboard pages.
        config.include("pyramid_jinja2")
        config.include(".accounts")
        config.include(".dashboard")
        config.scan(".api")
    return config.make_wsgi_app()
