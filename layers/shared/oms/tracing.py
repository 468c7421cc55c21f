"""The one way handlers build their Powertools ``Tracer``: X-Ray on the AWS calls, nothing else patched.

``Tracer()`` with no ``patch_modules`` runs the X-Ray SDK's ``patch_all``, which imports every
library it could instrument that happens to be installed (``requests`` and its dependencies,
``sqlite3``, database drivers): about 40-100 ms of every cold start for libraries no handler calls
(D150). Patching ``botocore`` only keeps what ``patch_all`` instrumented that the product uses: one
subsegment per AWS call. Annotations, metadata, ``capture_lambda_handler`` and the function's own
segment (``Tracing: Active``) are unchanged.
"""

from __future__ import annotations

from aws_lambda_powertools import Tracer

#: The libraries the X-Ray SDK instruments: the AWS SDK is the only traced client the product calls
#: through (platform APIs go through urllib3, which ``patch_all`` did not instrument either).
TRACED_LIBRARIES: tuple[str, ...] = ("botocore",)


def handler_tracer() -> Tracer:
    """A Powertools Tracer for a handler module; safe to build in every module (Tracer state is shared)."""
    return Tracer(patch_modules=TRACED_LIBRARIES)
