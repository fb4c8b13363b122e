"""Shared code of the order saga's Lambda functions: models, errors, steps and data access.

Dependencies point one way: handlers -> ``steps`` -> ``store`` / ``providers``. Only ``store``
touches boto3.
"""
