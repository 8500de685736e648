-- title: Failures by tenant and task (Log Analytics)
-- description: Failed tasks per organization and task name, with the distinct task ids and exception types: which customers a bug hits, over windows too large to pull to one machine.
SELECT
  COALESCE({j.ORGANIZATION_ID}, '<none>') AS {n.ORGANIZATION_ID},
  COALESCE({j.TASK_NAME}, '<unknown>') AS {n.TASK_NAME},
  COUNT(*) AS count,
  COUNT(DISTINCT {j.TASK_ID}) AS task_ids,
  COUNT(DISTINCT {j.EXCEPTION_TYPE}) AS exception_types,
  MIN(timestamp) AS first_seen,
  MAX(timestamp) AS last_seen
FROM {table}
WHERE {where}
  AND {j.EVENT} IN ('{e.TASK_FAILED}', '{e.TASK_INTERNAL_ERROR}')
GROUP BY 1, 2
ORDER BY count DESC, {n.ORGANIZATION_ID}, {n.TASK_NAME}
