-- retry_storms (scope task_name): retries per task name and time bucket; the norm (median
-- over every bucket of the window, empty ones included) is taken from these rows.
WITH {entries}
SELECT
  COALESCE({n.TASK_NAME}, '<unknown>') AS {n.TASK_NAME},
  DIV(UNIX_MICROS({n.TIME}), {bucket_us}) AS bucket_no,
  COUNT(*) AS count,
  MIN_BY({n.ORGANIZATION_ID}, IF({n.ORGANIZATION_ID} IS NULL, '~', ok)) AS {n.ORGANIZATION_ID},
  MIN({n.TIME}) AS first_seen,
  MAX({n.TIME}) AS last_seen,
  MIN(ok) AS _order
FROM entries
WHERE {n.EVENT} = '{e.TASK_RETRIED}' AND {n.TIME} IS NOT NULL
GROUP BY 1, 2
