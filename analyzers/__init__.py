"""rhesis-logs analyzers: read Celery worker logs from anywhere and report on them.

The pipeline, one module per step::

    from analyzers import ingest
    from analyzers.sources import files

    result = ingest.read_sources(files.open_sources(["worker.jsonl", "kubectl.log.gz"]))
    result.frame        # one row per record, columns = instrumentation.schema.FRAME_COLUMNS
    result.unparsed     # lines nothing could read, with source and line number
    result.lines_read, result.lines_parsed

``analyzers.sources`` yields raw bytes (files, stdin, ``kubectl logs``, Cloud Logging);
``analyzers.ingest`` turns them into the normalized frame (see ``analyzers.frame``);
``analyzers.report`` computes findings from that frame; ``analyzers.render`` prints them.
"""
