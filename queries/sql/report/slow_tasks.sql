-- slow_tasks: run time and queue wait percentiles per task name (exact: PERCENTILE_CONT
-- interpolates linearly, as numpy.percentile does).
WITH {entries},
runs AS (
  SELECT COALESCE({n.TASK_NAME}, '<unknown>') AS {n.TASK_NAME}, {n.DURATION_MS} AS ms, ok
  FROM entries
  WHERE {n.EVENT} IN ({finished_events}) AND {n.DURATION_MS} IS NOT NULL
),
received AS (
  -- the last received line of each id and retry number
  SELECT {n.TASK_ID}, retry_no, MAX_BY({n.TIME}, ok) AS received_at
  FROM (
    SELECT {n.TASK_ID}, {n.TIME}, ok,
           LEAST(GREATEST(CAST(COALESCE({n.RETRIES}, 0) AS INT64), 0), 1023) AS retry_no
    FROM entries
    WHERE {n.EVENT} = '{e.TASK_RECEIVED}' AND {n.TASK_ID} IS NOT NULL AND {n.TIME} IS NOT NULL
  )
  GROUP BY 1, 2
),
started AS (
  SELECT
    COALESCE({n.TASK_NAME}, '<unknown>') AS {n.TASK_NAME}, {n.TASK_ID}, {n.TIME}, ok,
    {n.QUEUE_WAIT_MS},
    LEAST(GREATEST(CAST(COALESCE({n.RETRIES}, 0) AS INT64), 0), 1023) AS retry_no
  FROM entries
  WHERE {n.EVENT} = '{e.TASK_STARTED}'
),
waits AS (
  SELECT * FROM (
    SELECT
      s.{n.TASK_NAME}, s.ok,
      COALESCE(s.{n.QUEUE_WAIT_MS},
               IF(TIMESTAMP_DIFF(s.{n.TIME}, r.received_at, MICROSECOND) >= 0,
                  TIMESTAMP_DIFF(s.{n.TIME}, r.received_at, MICROSECOND) / 1000.0, NULL)) AS ms
    FROM started AS s
    LEFT JOIN received AS r ON r.{n.TASK_ID} = s.{n.TASK_ID} AND r.retry_no = s.retry_no
  )
  WHERE ms IS NOT NULL
),
run_pct AS (
  SELECT DISTINCT
    {n.TASK_NAME},
    PERCENTILE_CONT(ms, 0.5) OVER (PARTITION BY {n.TASK_NAME}) AS p50_ms,
    PERCENTILE_CONT(ms, 0.95) OVER (PARTITION BY {n.TASK_NAME}) AS p95_ms,
    PERCENTILE_CONT(ms, 0.99) OVER (PARTITION BY {n.TASK_NAME}) AS p99_ms
  FROM runs
),
run_agg AS (
  -- the sum in BIGNUMERIC: exact and the same on every run (a FLOAT64 sum depends on the
  -- order BigQuery's workers add in); the caller divides, as pandas' mean does
  SELECT {n.TASK_NAME}, COUNT(*) AS count, MAX(ms) AS max_ms,
         CAST(SUM(CAST(ms AS BIGNUMERIC)) AS FLOAT64) AS ms_sum, MIN(ok) AS run_order
  FROM runs
  GROUP BY 1
),
wait_pct AS (
  SELECT DISTINCT
    {n.TASK_NAME},
    PERCENTILE_CONT(ms, 0.5) OVER (PARTITION BY {n.TASK_NAME}) AS wait_p50_ms,
    PERCENTILE_CONT(ms, 0.95) OVER (PARTITION BY {n.TASK_NAME}) AS wait_p95_ms
  FROM waits
),
wait_agg AS (
  SELECT {n.TASK_NAME}, COUNT(*) AS waits, MAX(ms) AS wait_max_ms, MIN(ok) AS wait_order
  FROM waits
  GROUP BY 1
),
names AS (
  SELECT {n.TASK_NAME} FROM run_agg UNION DISTINCT SELECT {n.TASK_NAME} FROM wait_agg
)
SELECT
  names.{n.TASK_NAME},
  run_agg.count, run_pct.p50_ms, run_pct.p95_ms, run_pct.p99_ms, run_agg.max_ms,
  run_agg.ms_sum, run_agg.run_order,
  wait_agg.waits, wait_pct.wait_p50_ms, wait_pct.wait_p95_ms, wait_agg.wait_max_ms,
  wait_agg.wait_order
FROM names
LEFT JOIN run_pct ON run_pct.{n.TASK_NAME} = names.{n.TASK_NAME}
LEFT JOIN run_agg ON run_agg.{n.TASK_NAME} = names.{n.TASK_NAME}
LEFT JOIN wait_pct ON wait_pct.{n.TASK_NAME} = names.{n.TASK_NAME}
LEFT JOIN wait_agg ON wait_agg.{n.TASK_NAME} = names.{n.TASK_NAME}
