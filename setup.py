from setuptools import find_packages, setup


requires = [
    "alembic",
    "bcrypt",
    "colander",
    "cornice",
    "croniter",
    "gunicorn>=25.1",
    "plaster_pastedeploy",
    "prometheus_client",
    "psycopg[binary]",
    "pyramid>=2.0",
    "pyramid_jinja2",
    "pyramid_mailer",
    "pyramid_retry",
    "pyramid_tm",
    "pyyaml",
    "requests",
    "sqlalchemy>=2.0",
    "transaction",
    "tzdata",
    "waitress",
    "zope.sqlalchemy",
]

tests_require = [
    "hypothesis",
    "pytest",
    "pytest-xdist",
    "ruff",
    "schemathesis",
    "selenium",
    "webtest",
]

setup(
    name="jobrunner",
    version="0.1.0",
    description="A control plane for scheduled scripts: schedules, workers, runs.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(exclude=["tests", "tests.*"]),
    include_package_data=True,
    zip_safe=False,
    python_requires=">=3.11",
    install_requires=requires,
    extras_require={"testing": tests_require},
    entry_points={
        "paste.app_factory": ["main = jobrunner.app:main"],
        "console_scripts": [
            "jobrunner-admin = jobrunner.scripts.admin:main",
            "jobrunner-monitor = jobrunner.scripts.monitor:main",
            "jobrunner-worker = jobrunner.worker.daemon:main",
        ],
    },
)
