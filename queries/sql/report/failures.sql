-- failures: failed attempts by task, exception type and message fingerprint.
WITH {entries},
lines AS (
  SELECT
    {n.TIME}, ok,
    COALESCE({n.TASK_NAME}, '<unknown>') AS {n.TASK_NAME},
    COALESCE({n.EXCEPTION_TYPE}, '<unknown>') AS {n.EXCEPTION_TYPE},
    {n.TASK_ID}, {n.ORGANIZATION_ID}, {n.EXCEPTION_MESSAGE},
    ROW_NUMBER() OVER (PARTITION BY {n.TASK_ID}, retries_text ORDER BY ok) AS nth
  FROM entries
  WHERE {n.EVENT} IN ('{e.TASK_FAILED}', '{e.TASK_INTERNAL_ERROR}')
),
picked AS (
  -- a time limit is logged by the pool and by the worker: one failure per attempt
  SELECT
    *,
    SUBSTR(TRIM(
      REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(
        COALESCE({n.EXCEPTION_MESSAGE}, ''),
        r'(?i)[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}', '<id>'),
        r'(?i)\b0x[0-9a-f]+\b', '<hex>'),
        r'(?i)\b[0-9a-f]*[0-9][0-9a-f]*[a-f][0-9a-f]*\b', '<hex>'),
        r'(?i)\b[0-9a-f]*[a-f][0-9a-f]*[0-9][0-9a-f]*\b', '<hex>'),
        r'\d+(?:\.\d+)?', '<n>'),
        r'\s+', ' ')
    ), 1, 200) AS fingerprint
  FROM lines
  WHERE {n.TASK_ID} IS NULL OR nth = 1
),
{tenant_ids}
SELECT
  g.{n.TASK_NAME}, g.{n.EXCEPTION_TYPE}, g.fingerprint, g.count, g.tenants,
  t.top AS tenant_ids, t.distinct_values AS tenant_count,
  g.first_seen, g.last_seen, g.example_task_id, g.example_message, g._order
FROM (
  SELECT
    {n.TASK_NAME}, {n.EXCEPTION_TYPE}, fingerprint,
    COUNT(*) AS count,
    COUNT(DISTINCT {n.ORGANIZATION_ID}) AS tenants,
    MIN({n.TIME}) AS first_seen,
    MAX({n.TIME}) AS last_seen,
    MIN_BY({n.TASK_ID}, IF({n.TASK_ID} IS NULL, '~', ok)) AS example_task_id,
    MIN_BY({n.EXCEPTION_MESSAGE}, IF({n.EXCEPTION_MESSAGE} IS NULL, '~', ok)) AS example_message,
    MIN(ok) AS _order
  FROM picked
  GROUP BY {n.TASK_NAME}, {n.EXCEPTION_TYPE}, fingerprint
) AS g
LEFT JOIN top AS t
  ON t.{n.TASK_NAME} = g.{n.TASK_NAME} AND t.{n.EXCEPTION_TYPE} = g.{n.EXCEPTION_TYPE}
  AND t.fingerprint = g.fingerprint
