"""Daily digests of the return chains' heads, on the Object Lock bucket (write once).

The bucket's default retention (template.yaml, ``ReturnDigestBucket``) locks every version on
write: nobody, the stack's own roles included, can delete or overwrite it before the retention
ends (COMPLIANCE mode in prod). ``put`` also refuses to write a second version of a day's digest
(``If-None-Match: *``), so the first digest of a day is the one every verification reads.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from botocore.exceptions import ClientError

from oms.adapters.aws import error_code, translated
from oms.domain.errors import ConcurrentUpdateError


class S3DigestStore:
    """:class:`~oms.services.ports.DigestStore`."""

    def __init__(self, bucket: str, s3: Any) -> None:
        self._bucket = bucket
        self._s3 = s3

    def put(self, key: str, document: bytes) -> str:
        with translated("PutObject", key=key):
            try:
                reply = self._s3.put_object(
                    Bucket=self._bucket,
                    Key=key,
                    Body=document,
                    ContentType="application/json",
                    # Object Lock requires an integrity checksum on every write.
                    ContentMD5=base64.b64encode(hashlib.md5(document).digest()).decode("ascii"),  # noqa: S324
                    IfNoneMatch="*",
                )
            except ClientError as error:
                if error_code(error) in ("PreconditionFailed", "ConditionalRequestConflict"):
                    raise ConcurrentUpdateError("the digest exists already", key=key) from error
                raise
        return str(reply.get("VersionId", ""))

    def get(self, key: str) -> bytes | None:
        with translated("GetObject", key=key):
            try:
                reply = self._s3.get_object(Bucket=self._bucket, Key=key)
            except ClientError as error:
                if error_code(error) in ("NoSuchKey", "404"):
                    return None
                raise
            return bytes(reply["Body"].read())
