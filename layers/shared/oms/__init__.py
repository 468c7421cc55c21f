"""The order center's shared package (deployed as a Lambda layer).

Layers, innermost first (enforced by import-linter, see pyproject.toml):

- ``oms.domain``: pure models and rules; no I/O, no clock, no environment.
- ``oms.platforms``: one package per platform: verify pushes, parse payloads, map statuses,
  sign API requests (I/O only through an injected transport).
- ``oms.services``: use cases; collaborators come in as arguments (ports in ``oms.services.ports``).
- ``oms.adapters``: DynamoDB, SQS, S3, Secrets Manager, HTTP.
- ``oms.composition``: the one place that wires adapters into services for the handlers.
"""
