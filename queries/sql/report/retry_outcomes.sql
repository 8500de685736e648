-- retry_outcomes: per task name, retried ids and how they ended.
WITH {entries},
retried AS (
  -- an id's task name is the one on its first retry line
  SELECT {n.TASK_ID}, MIN_BY(COALESCE({n.TASK_NAME}, '<unknown>'), ok) AS {n.TASK_NAME}
  FROM entries
  WHERE {n.EVENT} = '{e.TASK_RETRIED}' AND {n.TASK_ID} IS NOT NULL
  GROUP BY 1
),
ends AS (
  SELECT
    {n.TASK_ID},
    LOGICAL_OR({n.EVENT} = '{e.TASK_SUCCEEDED}') AS ok,
    LOGICAL_OR({n.EVENT} IN ('{e.TASK_FAILED}', '{e.TASK_INTERNAL_ERROR}')) AS bad
  FROM entries
  WHERE {n.EVENT} IN ('{e.TASK_SUCCEEDED}', '{e.TASK_FAILED}', '{e.TASK_INTERNAL_ERROR}')
    AND {n.TASK_ID} IN (SELECT {n.TASK_ID} FROM retried)
  GROUP BY 1
)
SELECT
  r.{n.TASK_NAME},
  COUNT(*) AS retried_ids,
  COUNTIF(COALESCE(x.ok, FALSE)) AS recovered,
  COUNTIF(NOT COALESCE(x.ok, FALSE) AND COALESCE(x.bad, FALSE)) AS exhausted,
  COUNTIF(NOT COALESCE(x.ok, FALSE) AND NOT COALESCE(x.bad, FALSE)) AS pending
FROM retried AS r
LEFT JOIN ends AS x ON x.{n.TASK_ID} = r.{n.TASK_ID}
GROUP BY 1
