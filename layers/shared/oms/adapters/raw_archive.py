"""The raw-payload archive: each sanitizer batch as one gzipped JSON-lines object on S3.

Key ``raw/<yyyy>/<mm>/<dd>/<hh>/<digest>.jsonl.gz`` (UTC hour the batch's first message arrived,
digest of its trace ids), one intake envelope per line. A payload's location is
``s3://<bucket>/<key>#<trace_id>``.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from oms.adapters.aws import translated
from oms.domain.envelope import IntakeEnvelope
from oms.domain.errors import BadRequestError, OrderNotFoundError

PREFIX = "raw"


class S3RawArchive:
    def __init__(self, bucket: str, s3: Any) -> None:
        self._bucket = bucket
        self._s3 = s3

    def put_batch(self, envelopes: Sequence[IntakeEnvelope]) -> Mapping[str, str]:
        first = min(envelope.received_at for envelope in envelopes)
        digest = hashlib.sha256("|".join(sorted(e.trace_id for e in envelopes)).encode()).hexdigest()[:32]
        key = f"{PREFIX}/{first:%Y/%m/%d/%H}/{digest}.jsonl.gz"
        lines = "".join(envelope.model_dump_json(exclude_none=True) + "\n" for envelope in envelopes)
        with translated("PutObject", key=key):
            self._s3.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=gzip.compress(lines.encode("utf-8"), mtime=0),
                ContentType="application/x-ndjson",
                ContentEncoding="gzip",
            )
        return {envelope.trace_id: f"s3://{self._bucket}/{key}#{envelope.trace_id}" for envelope in envelopes}

    def get(self, location: str) -> IntakeEnvelope:
        bucket, key, trace_id = parse_location(location)
        with translated("GetObject", key=key):
            body = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        for line in gzip.decompress(body).decode("utf-8").splitlines():
            envelope = IntakeEnvelope.model_validate_json(line)
            if envelope.trace_id == trace_id:
                return envelope
        raise OrderNotFoundError("no archived payload at this location", location=location)


def parse_location(location: str) -> tuple[str, str, str]:
    if not location.startswith("s3://") or "#" not in location:
        raise BadRequestError("not an archive location", location=location)
    path, trace_id = location[len("s3://") :].split("#", 1)
    bucket, _, key = path.partition("/")
    return bucket, key, trace_id
