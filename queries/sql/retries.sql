-- title: Retries by task and exception (Log Analytics)
-- description: The analyzer's retries table: retry events per task name and the exception that caused them, distinct task ids, the most retries one id reached, tenants.
SELECT
  COALESCE({j.TASK_NAME}, '<unknown>') AS {n.TASK_NAME},
  COALESCE({j.EXCEPTION_TYPE}, '<unknown>') AS {n.EXCEPTION_TYPE},
  COUNT(*) AS count,
  COUNT(DISTINCT {j.TASK_ID}) AS task_ids,
  -- the retries field counts the retries before this one: the n-th retry logs n-1
  MAX({num.RETRIES}) + 1 AS max_retries,
  COUNT(DISTINCT {j.ORGANIZATION_ID}) AS tenants,
  MIN(timestamp) AS first_seen,
  MAX(timestamp) AS last_seen
FROM {table}
WHERE {where}
  AND {j.EVENT} = '{e.TASK_RETRIED}'
GROUP BY 1, 2
ORDER BY count DESC
