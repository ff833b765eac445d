"""The embedded sandbox: real PostgreSQL, a test CA, RDS-style IAM login through PAM, moto and
CloudTrail files, shared by `pgwarden demo` and the integration tests.

Nothing here is imported by the pipeline: it only stands in for AWS and RDS around it.
"""
