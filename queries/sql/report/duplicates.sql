-- duplicates: task ids received, started or succeeded more often than their retries explain.
WITH {entries},
{lost},
counts AS (
  SELECT
    {n.TASK_ID},
    COUNTIF({n.EVENT} = '{e.TASK_RECEIVED}') AS received,
    COUNTIF({n.EVENT} = '{e.TASK_STARTED}') AS started,
    COUNTIF({n.EVENT} = '{e.TASK_SUCCEEDED}') AS succeeded,
    COUNTIF({n.EVENT} = '{e.TASK_RETRIED}') AS retried
  FROM entries
  WHERE {n.TASK_ID} IS NOT NULL
    AND {n.EVENT} IN ('{e.TASK_RECEIVED}', '{e.TASK_STARTED}', '{e.TASK_SUCCEEDED}',
                      '{e.TASK_RETRIED}')
  GROUP BY 1
),
dup AS (
  SELECT * FROM counts
  WHERE received > retried + 1 OR started > retried + 1 OR succeeded > 1
),
lines AS (
  SELECT e.*
  FROM entries AS e
  JOIN dup AS d ON d.{n.TASK_ID} = e.{n.TASK_ID}
  WHERE e.{n.EVENT} IN ('{e.TASK_RECEIVED}', '{e.TASK_STARTED}', '{e.TASK_SUCCEEDED}',
                        '{e.TASK_RETRIED}')
),
gaps AS (
  -- the longest gap between two consecutive receptions of the id
  SELECT {n.TASK_ID}, MAX(TIMESTAMP_DIFF({n.TIME}, previous, MICROSECOND)) / 1e6 AS gap_s
  FROM (
    SELECT {n.TASK_ID}, {n.TIME},
           LAG({n.TIME}) OVER (PARTITION BY {n.TASK_ID} ORDER BY {n.TIME}) AS previous
    FROM lines
    WHERE {n.EVENT} = '{e.TASK_RECEIVED}' AND {n.TIME} IS NOT NULL
  )
  GROUP BY 1
),
per_id AS (
  SELECT
    {n.TASK_ID},
    MIN_BY({n.TASK_NAME}, IF({n.TASK_NAME} IS NULL, '~', ok)) AS {n.TASK_NAME},
    COUNT(DISTINCT COALESCE({n.WORKER}, {n.POD})) AS workers,
    MIN_BY({n.ORGANIZATION_ID}, IF({n.ORGANIZATION_ID} IS NULL, '~', ok)) AS {n.ORGANIZATION_ID},
    MIN({n.TIME}) AS first_seen,
    MAX({n.TIME}) AS last_seen,
    LOGICAL_OR(COALESCE({n.REDELIVERED}, FALSE)) AS {n.REDELIVERED},
    MIN(ok) AS _order
  FROM lines
  GROUP BY 1
)
SELECT
  p.*, d.received, d.started, d.succeeded, d.retried, g.gap_s,
  p.{n.TASK_ID} IN (SELECT {n.TASK_ID} FROM lost WHERE {n.TASK_ID} IS NOT NULL) AS lost_worker
FROM per_id AS p
JOIN dup AS d ON d.{n.TASK_ID} = p.{n.TASK_ID}
LEFT JOIN gaps AS g ON g.{n.TASK_ID} = p.{n.TASK_ID}
