-- retries: retry lines by task name and exception type.
WITH {entries},
picked AS (
  SELECT
    {n.TIME}, ok,
    COALESCE({n.TASK_NAME}, '<unknown>') AS {n.TASK_NAME},
    COALESCE({n.EXCEPTION_TYPE}, '<unknown>') AS {n.EXCEPTION_TYPE},
    {n.TASK_ID}, {n.ORGANIZATION_ID}, {n.EXCEPTION_MESSAGE}, {n.RETRIES}
  FROM entries
  WHERE {n.EVENT} = '{e.TASK_RETRIED}'
),
{tenant_ids}
SELECT
  g.*, t.top AS tenant_ids, t.distinct_values AS tenant_count
FROM (
  SELECT
    {n.TASK_NAME}, {n.EXCEPTION_TYPE},
    COUNT(*) AS count,
    COUNT(DISTINCT {n.TASK_ID}) AS task_ids,
    -- the retries field counts the retries before this one: the n-th retry logs n-1
    CAST(MAX({n.RETRIES}) AS INT64) + 1 AS max_retries,
    COUNT(DISTINCT {n.ORGANIZATION_ID}) AS tenants,
    MIN({n.TIME}) AS first_seen,
    MAX({n.TIME}) AS last_seen,
    MIN_BY({n.TASK_ID}, IF({n.TASK_ID} IS NULL, '~', ok)) AS example_task_id,
    MIN_BY({n.EXCEPTION_MESSAGE}, IF({n.EXCEPTION_MESSAGE} IS NULL, '~', ok)) AS example_message,
    MIN(ok) AS _order
  FROM picked
  GROUP BY {n.TASK_NAME}, {n.EXCEPTION_TYPE}
) AS g
LEFT JOIN top AS t
  ON t.{n.TASK_NAME} = g.{n.TASK_NAME} AND t.{n.EXCEPTION_TYPE} = g.{n.EXCEPTION_TYPE}
