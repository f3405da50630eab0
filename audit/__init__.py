"""Audit: a case's Temporal history made readable, replayed on today's code and checked against the read model.

- ``history``: fetching a case's runs from Temporal and printing them exactly as ``temporal workflow show``.
- ``facts``: what one run's history records (the filing, each command, each timer, how the run ended).
- ``replay``: the SDK Replayer with the worker's data converter and sandbox, capturing what the workflow did.
- ``timeline``: the facts and the replayed transitions joined into one readable timeline.
- ``reconcile``: the replayed case against the read model, field by field.
- ``report``: the shapes the API and the CLI return; ``audit``: the whole check for one case or many.
"""
