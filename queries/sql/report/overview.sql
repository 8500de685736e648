-- Line counts, task totals and the time spans the other sections are sized by: one row.
WITH {entries},
lines AS (
  SELECT
    COUNT(*) AS records,
    COUNTIF(NOT has_json AND text_payload IS NULL) AS no_payload,
    COUNTIF(NOT has_json AND text_payload IS NOT NULL) AS text_entries,
    COUNTIF(NOT has_json AND REGEXP_CONTAINS(text_payload, r"{text_events}")) AS text_events
  FROM base
),
tasks AS (
  SELECT
    COUNTIF({n.EVENT} = '{e.TASK_RECEIVED}') AS received,
    COUNTIF({n.EVENT} = '{e.TASK_STARTED}') AS started,
    COUNTIF({n.EVENT} = '{e.TASK_SUCCEEDED}') AS succeeded,
    COUNTIF({n.EVENT} = '{e.TASK_RETRIED}') AS retried,
    COUNTIF({n.EVENT} = '{e.TASK_REVOKED}') AS revoked,
    COUNTIF({n.EVENT} = '{e.TASK_REJECTED}') AS rejected,
    COUNT(DISTINCT IF({n.EVENT} IN ({task_events}), {n.TASK_ID}, NULL)) AS task_ids,
    COUNT(DISTINCT {n.ORGANIZATION_ID}) AS tenants,
    COUNT(*) AS view_rows,
    MIN({n.TIME}) AS first_seen,
    MAX({n.TIME}) AS last_seen,
    MIN(IF({n.EVENT} IN ({over_time_events}), {n.TIME}, NULL)) AS series_first,
    MAX(IF({n.EVENT} IN ({over_time_events}), {n.TIME}, NULL)) AS series_last
  FROM entries
),
failed AS (
  -- attempts, not lines: one per task id and retry number
  SELECT
    COUNT(DISTINCT IF({n.TASK_ID} IS NULL, NULL,
                      CONCAT({n.TASK_ID}, '|', COALESCE(retries_text, '-'))))
      + COUNTIF({n.TASK_ID} IS NULL) AS failed
  FROM entries
  WHERE {n.EVENT} = '{e.TASK_FAILED}'
)
SELECT * FROM lines CROSS JOIN tasks CROSS JOIN failed
