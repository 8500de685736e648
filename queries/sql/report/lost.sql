-- The lost-worker lines (shared by lost_workers and duplicates): worker_lost,
-- time_limit_exceeded and broker_connection_lost lines, and failed tasks whose exception is
-- a WorkerLostError or TimeLimitExceeded, once per kind and task id. (A CTE, not a query.)
lost_lines AS (
  SELECT
    CASE
      -- not SoftTimeLimitExceeded: task code may raise it (a failure, not a time limit)
      WHEN {n.EVENT} IN ('{e.TASK_FAILED}', '{e.TASK_INTERNAL_ERROR}')
           AND REGEXP_CONTAINS(COALESCE({n.EXCEPTION_TYPE}, ''), r'TimeLimitExceeded$')
           AND NOT REGEXP_CONTAINS(COALESCE({n.EXCEPTION_TYPE}, ''), r'[Ss]oftTimeLimitExceeded$')
        THEN 'time_limit'
      WHEN {n.EVENT} IN ('{e.TASK_FAILED}', '{e.TASK_INTERNAL_ERROR}')
           AND REGEXP_CONTAINS(COALESCE({n.EXCEPTION_TYPE}, ''), r'WorkerLostError$')
        THEN 'worker_lost'
      WHEN {n.EVENT} = '{e.WORKER_LOST}' THEN 'worker_lost'
      WHEN {n.EVENT} = '{e.TIME_LIMIT_EXCEEDED}' THEN 'time_limit'
      WHEN {n.EVENT} = '{e.BROKER_CONNECTION_LOST}' THEN 'broker_connection_lost'
    END AS kind,
    COALESCE({n.WORKER}, {n.POD}, '<unknown>') AS {n.WORKER},
    {n.TIME}, ok,
    -- Celery's "Hard time limit (1s) exceeded for tasks.x[<id>]" names the task in its text
    COALESCE({n.TASK_ID}, REGEXP_EXTRACT({n.MESSAGE}, r'[\w.:-]+\[([0-9a-fA-F-]{{8,}})\]'))
      AS {n.TASK_ID},
    COALESCE({n.TASK_NAME}, REGEXP_EXTRACT({n.MESSAGE}, r'([\w.:-]+)\[[0-9a-fA-F-]{{8,}}\]'))
      AS {n.TASK_NAME},
    COALESCE({n.EXCEPTION_MESSAGE}, {n.REASON}, {n.MESSAGE}) AS example_message
  FROM entries
  WHERE {n.EVENT} IN ('{e.TASK_FAILED}', '{e.TASK_INTERNAL_ERROR}', '{e.WORKER_LOST}',
                      '{e.TIME_LIMIT_EXCEEDED}', '{e.BROKER_CONNECTION_LOST}')
),
lost AS (
  -- a worker may log a lost task twice (the pool's error and the task's failure); ties in
  -- time put the lines with a task id first
  SELECT
    *,
    CONCAT(SUBSTR(ok, 1, 20), IF({n.TASK_ID} IS NULL, '1', '0'), ok) AS lost_order
  FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY kind, {n.TASK_ID} ORDER BY ok) AS nth
    FROM lost_lines
    WHERE kind IS NOT NULL
  )
  WHERE {n.TASK_ID} IS NULL OR nth = 1
)
