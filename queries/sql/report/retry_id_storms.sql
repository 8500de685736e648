-- retry_storms (scope task_id): ids retried min_retries times and factor times the median
-- retries per retried id of their task name (the other id's count when there are two, 1
-- when alone).
WITH {entries},
pairs AS (
  SELECT
    COALESCE({n.TASK_NAME}, '<unknown>') AS {n.TASK_NAME},
    {n.TASK_ID},
    COUNT(*) AS count,
    MIN_BY({n.ORGANIZATION_ID}, IF({n.ORGANIZATION_ID} IS NULL, '~', ok)) AS {n.ORGANIZATION_ID},
    MIN({n.TIME}) AS first_seen,
    MAX({n.TIME}) AS last_seen,
    MIN(ok) AS _order
  FROM entries
  WHERE {n.EVENT} = '{e.TASK_RETRIED}' AND {n.TASK_ID} IS NOT NULL
  GROUP BY 1, 2
),
normed AS (
  SELECT
    *,
    PERCENTILE_CONT(count, 0.5) OVER (PARTITION BY {n.TASK_NAME}) AS median,
    COUNT(*) OVER (PARTITION BY {n.TASK_NAME}) AS siblings,
    SUM(count) OVER (PARTITION BY {n.TASK_NAME}) AS total
  FROM pairs
),
judged AS (
  SELECT
    *,
    GREATEST(CASE WHEN siblings <= 1 THEN 1.0
                  WHEN siblings = 2 THEN CAST(total - count AS FLOAT64)
                  ELSE median END, 1.0) AS norm
  FROM normed
)
SELECT {n.TASK_NAME}, {n.TASK_ID}, count, norm, count / norm AS ratio, {n.ORGANIZATION_ID},
       first_seen, last_seen, _order
FROM judged
WHERE count >= {min_retries} AND count / norm >= {factor}
