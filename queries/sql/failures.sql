-- title: Failures by task, exception and message (Log Analytics)
-- description: The analyzer's failures table over any window: failed tasks grouped by task name, exception type and the message with ids, hex and numbers masked, with the tenants affected.
WITH failed AS (
  SELECT
    timestamp,
    COALESCE({j.TASK_NAME}, '<unknown>') AS {n.TASK_NAME},
    COALESCE({j.EXCEPTION_TYPE}, '<unknown>') AS {n.EXCEPTION_TYPE},
    {j.ORGANIZATION_ID} AS {n.ORGANIZATION_ID},
    {j.TASK_ID} AS {n.TASK_ID},
    COALESCE({j.EXCEPTION_MESSAGE}, '') AS {n.EXCEPTION_MESSAGE}
  FROM {table}
  WHERE {where}
    AND {j.EVENT} IN ('{e.TASK_FAILED}', '{e.TASK_INTERNAL_ERROR}')
),
fingerprinted AS (
  SELECT
    *,
    SUBSTR(TRIM(
      REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(
        {n.EXCEPTION_MESSAGE},
        r'(?i)[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}', '<id>'),
        r'(?i)\b0x[0-9a-f]+\b', '<hex>'),
        r'(?i)\b[0-9a-f]*[0-9][0-9a-f]*[a-f][0-9a-f]*\b', '<hex>'),
        r'(?i)\b[0-9a-f]*[a-f][0-9a-f]*[0-9][0-9a-f]*\b', '<hex>'),
        r'\d+(?:\.\d+)?', '<n>'),
        r'\s+', ' ')
    ), 1, 200) AS fingerprint
  FROM failed
)
SELECT
  {n.TASK_NAME},
  {n.EXCEPTION_TYPE},
  fingerprint,
  COUNT(*) AS count,
  COUNT(DISTINCT {n.ORGANIZATION_ID}) AS tenants,
  MIN(timestamp) AS first_seen,
  MAX(timestamp) AS last_seen
FROM fingerprinted
GROUP BY {n.TASK_NAME}, {n.EXCEPTION_TYPE}, fingerprint
ORDER BY count DESC, last_seen DESC
