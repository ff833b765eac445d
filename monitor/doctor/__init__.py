"""`pgwarden doctor`: groups of checks, each registered by its module (monitor/doctor/
checks.py); importing them here, in this order, is the run order: what later groups
depend on comes first."""

# isort: off
from monitor.doctor import store, accounts, rds, database, cloudtrail, logs, proxies, slack  # noqa: F401
# isort: on
