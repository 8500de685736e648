"""Where log bytes come from: files/stdin, ``kubectl logs``, Cloud Logging.

Every source is an iterable of ``(source_name, chunks)`` pairs, where ``chunks`` is an
iterable of ``bytes``; ``analyzers.ingest.read_sources`` reads them all into one frame::

    from analyzers import ingest
    from analyzers.sources import files, kubectl, cloud_logging

    result = ingest.read_sources(files.open_sources(["a.log", "b.jsonl.gz"]))
    result = ingest.read_sources(kubectl.KubectlSource("app=rhesis-worker", since="1h"))
    result = ingest.read_sources(cloud_logging.CloudLoggingSource("my-project", since=...))

Sources never compute findings and never parse lines; problems the user can fix (missing
file, no kubectl context, no credentials, quota) raise ``analyzers.errors.SourceError`` with
a message that says what to do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeAlias

#: What every source yields: a name (file name, "stdin", "kubectl", "cloud-logging") and chunks.
SourceChunks: TypeAlias = tuple[str, Iterable[bytes]]
