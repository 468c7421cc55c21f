"""Statement files in the Settlement bucket (private, SSE-S3, versioned), and presigned links to them.

A file is written only when its content changed (the SHA-256 is kept as object metadata): an
identical regeneration leaves the current version alone, a regeneration after late data becomes
a new S3 version and the older versions stay (the bucket keeps noncurrent versions; see
docs/settlements.md for the retention).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from oms.adapters.aws import error_code, translated
from oms.services.ports import StoredFile

DIGEST_METADATA = "content-sha256"


class S3StatementArchive:
    """:class:`~oms.services.ports.StatementArchive` on S3."""

    def __init__(self, bucket: str, s3: Any) -> None:
        self._bucket = bucket
        self._s3 = s3

    def store(self, key: str, body: bytes, content_type: str) -> StoredFile:
        digest = hashlib.sha256(body).hexdigest()
        current = self._head(key)
        if current is not None and current.get("Metadata", {}).get(DIGEST_METADATA) == digest:
            return StoredFile(
                key=key, version_id=current.get("VersionId"), sha256=digest, size=len(body), changed=False
            )
        with translated("PutObject", key=key):
            reply = self._s3.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                Metadata={DIGEST_METADATA: digest},
                # The bucket encrypts by default; saying so makes a policy that requires it pass.
                ServerSideEncryption="AES256",
            )
        return StoredFile(
            key=key, version_id=reply.get("VersionId"), sha256=digest, size=len(body), changed=True
        )

    def _head(self, key: str) -> dict[str, Any] | None:
        with translated("HeadObject", key=key):
            try:
                return dict(self._s3.head_object(Bucket=self._bucket, Key=key))
            except ClientError as error:
                if error_code(error) in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise

    def list(self, prefix: str) -> list[StoredFile]:
        files: list[StoredFile] = []
        query: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix}
        while True:
            with translated("ListObjectsV2", prefix=prefix):
                page = self._s3.list_objects_v2(**query)
            files += [
                StoredFile(
                    key=item["Key"],
                    version_id=None,
                    sha256="",
                    size=int(item["Size"]),
                    changed=False,
                    modified_at=item.get("LastModified"),
                )
                for item in page.get("Contents", [])
            ]
            if not page.get("IsTruncated"):
                return files
            query["ContinuationToken"] = page["NextContinuationToken"]

    def read(self, key: str) -> bytes:
        with translated("GetObject", key=key):
            return bytes(self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read())

    def presign(self, key: str, expires: timedelta) -> str:
        with translated("GeneratePresignedUrl", key=key):
            return str(
                self._s3.generate_presigned_url(
                    "get_object",
                    Params={"Bucket": self._bucket, "Key": key},
                    ExpiresIn=int(expires.total_seconds()),
                )
            )
