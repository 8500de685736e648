-- title: Run time and queue wait percentiles by task (Log Analytics)
-- description: The analyzer's slow-tasks table: p50/p95/p99/max/mean run time of finished executions and p50/p95/max queue wait per task name, slowest p95 first.
WITH runs AS (
  SELECT COALESCE({j.TASK_NAME}, '<unknown>') AS {n.TASK_NAME}, {num.DURATION_MS} AS ms
  FROM {table}
  WHERE {where}
    AND {j.EVENT} IN ('{e.TASK_SUCCEEDED}', '{e.TASK_FAILED}', '{e.TASK_RETRIED}', '{e.TASK_REVOKED}')
    AND {num.DURATION_MS} IS NOT NULL
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
  SELECT {n.TASK_NAME}, COUNT(*) AS count, MAX(ms) AS max_ms, AVG(ms) AS mean_ms
  FROM runs
  GROUP BY {n.TASK_NAME}
),
started AS (
  SELECT
    COALESCE({j.TASK_NAME}, '<unknown>') AS {n.TASK_NAME},
    {j.TASK_ID} AS {n.TASK_ID},
    COALESCE({num.RETRIES}, 0) AS {n.RETRIES},
    timestamp,
    {num.QUEUE_WAIT_MS} AS wait_ms
  FROM {table}
  WHERE {where} AND {j.EVENT} = '{e.TASK_STARTED}'
),
received AS (
  -- where a started line has no queue_wait_ms: its received line (same id and retry number)
  SELECT {n.TASK_ID}, {n.RETRIES}, MAX(timestamp) AS received_at
  FROM (
    SELECT {j.TASK_ID} AS {n.TASK_ID}, COALESCE({num.RETRIES}, 0) AS {n.RETRIES}, timestamp
    FROM {table}
    WHERE {where} AND {j.EVENT} = '{e.TASK_RECEIVED}'
  )
  GROUP BY {n.TASK_ID}, {n.RETRIES}
),
waits AS (
  SELECT * FROM (
    SELECT
      s.{n.TASK_NAME},
      COALESCE(s.wait_ms, TIMESTAMP_DIFF(s.timestamp, r.received_at, MICROSECOND) / 1000.0) AS ms
    FROM started AS s
    LEFT JOIN received AS r ON s.{n.TASK_ID} = r.{n.TASK_ID} AND s.{n.RETRIES} = r.{n.RETRIES}
  )
  WHERE ms >= 0
),
wait_pct AS (
  SELECT DISTINCT
    {n.TASK_NAME},
    PERCENTILE_CONT(ms, 0.5) OVER (PARTITION BY {n.TASK_NAME}) AS wait_p50_ms,
    PERCENTILE_CONT(ms, 0.95) OVER (PARTITION BY {n.TASK_NAME}) AS wait_p95_ms
  FROM waits
),
wait_agg AS (
  SELECT {n.TASK_NAME}, COUNT(*) AS waits, MAX(ms) AS wait_max_ms
  FROM waits
  GROUP BY {n.TASK_NAME}
),
names AS (
  SELECT {n.TASK_NAME} FROM run_agg UNION DISTINCT SELECT {n.TASK_NAME} FROM wait_agg
)
SELECT
  names.{n.TASK_NAME},
  COALESCE(run_agg.count, 0) AS count,
  run_pct.p50_ms, run_pct.p95_ms, run_pct.p99_ms, run_agg.max_ms, run_agg.mean_ms,
  COALESCE(wait_agg.waits, 0) AS waits,
  wait_pct.wait_p50_ms, wait_pct.wait_p95_ms, wait_agg.wait_max_ms
FROM names
LEFT JOIN run_pct ON run_pct.{n.TASK_NAME} = names.{n.TASK_NAME}
LEFT JOIN run_agg ON run_agg.{n.TASK_NAME} = names.{n.TASK_NAME}
LEFT JOIN wait_pct ON wait_pct.{n.TASK_NAME} = names.{n.TASK_NAME}
LEFT JOIN wait_agg ON wait_agg.{n.TASK_NAME} = names.{n.TASK_NAME}
ORDER BY run_pct.p95_ms DESC NULLS LAST, wait_pct.wait_p95_ms DESC NULLS LAST
