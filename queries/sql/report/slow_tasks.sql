-- slow_tasks: run time and queue wait percentiles per task name, interpolated linearly
-- between the two order statistics exactly as analyzers.report.durations does
-- (lo + (hi - lo) * frac, frac = q * (n - 1) % 1): PERCENTILE_CONT rounds differently in
-- the last bit, which shows once a figure is rounded to three decimals.
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
  -- the order statistics from each name's sorted values
  SELECT
    {n.TASK_NAME},
    IF(p50_ms_f = 0, v[ORDINAL(p50_ms_lo + 1)],
       v[ORDINAL(p50_ms_lo + 1)] + (v[ORDINAL(LEAST(p50_ms_lo + 1, n - 1) + 1)] - v[ORDINAL(p50_ms_lo + 1)])
         * p50_ms_f) AS p50_ms,
    IF(p95_ms_f = 0, v[ORDINAL(p95_ms_lo + 1)],
       v[ORDINAL(p95_ms_lo + 1)] + (v[ORDINAL(LEAST(p95_ms_lo + 1, n - 1) + 1)] - v[ORDINAL(p95_ms_lo + 1)])
         * p95_ms_f) AS p95_ms,
    IF(p99_ms_f = 0, v[ORDINAL(p99_ms_lo + 1)],
       v[ORDINAL(p99_ms_lo + 1)] + (v[ORDINAL(LEAST(p99_ms_lo + 1, n - 1) + 1)] - v[ORDINAL(p99_ms_lo + 1)])
         * p99_ms_f) AS p99_ms
  FROM (
    SELECT *,
      CAST(FLOOR(CAST(0.5 AS FLOAT64) * CAST(n - 1 AS FLOAT64)) AS INT64) AS p50_ms_lo,
      CAST(0.5 AS FLOAT64) * CAST(n - 1 AS FLOAT64) - FLOOR(CAST(0.5 AS FLOAT64) * CAST(n - 1 AS FLOAT64)) AS p50_ms_f,
      CAST(FLOOR(CAST(0.95 AS FLOAT64) * CAST(n - 1 AS FLOAT64)) AS INT64) AS p95_ms_lo,
      CAST(0.95 AS FLOAT64) * CAST(n - 1 AS FLOAT64) - FLOOR(CAST(0.95 AS FLOAT64) * CAST(n - 1 AS FLOAT64)) AS p95_ms_f,
      CAST(FLOOR(CAST(0.99 AS FLOAT64) * CAST(n - 1 AS FLOAT64)) AS INT64) AS p99_ms_lo,
      CAST(0.99 AS FLOAT64) * CAST(n - 1 AS FLOAT64) - FLOOR(CAST(0.99 AS FLOAT64) * CAST(n - 1 AS FLOAT64)) AS p99_ms_f
    FROM (
      SELECT {n.TASK_NAME}, ARRAY_AGG(ms ORDER BY ms) AS v, COUNT(*) AS n
      FROM runs
      GROUP BY 1
    )
  )
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
  -- the order statistics from each name's sorted values
  SELECT
    {n.TASK_NAME},
    IF(wait_p50_ms_f = 0, v[ORDINAL(wait_p50_ms_lo + 1)],
       v[ORDINAL(wait_p50_ms_lo + 1)] + (v[ORDINAL(LEAST(wait_p50_ms_lo + 1, n - 1) + 1)] - v[ORDINAL(wait_p50_ms_lo + 1)])
         * wait_p50_ms_f) AS wait_p50_ms,
    IF(wait_p95_ms_f = 0, v[ORDINAL(wait_p95_ms_lo + 1)],
       v[ORDINAL(wait_p95_ms_lo + 1)] + (v[ORDINAL(LEAST(wait_p95_ms_lo + 1, n - 1) + 1)] - v[ORDINAL(wait_p95_ms_lo + 1)])
         * wait_p95_ms_f) AS wait_p95_ms
  FROM (
    SELECT *,
      CAST(FLOOR(CAST(0.5 AS FLOAT64) * CAST(n - 1 AS FLOAT64)) AS INT64) AS wait_p50_ms_lo,
      CAST(0.5 AS FLOAT64) * CAST(n - 1 AS FLOAT64) - FLOOR(CAST(0.5 AS FLOAT64) * CAST(n - 1 AS FLOAT64)) AS wait_p50_ms_f,
      CAST(FLOOR(CAST(0.95 AS FLOAT64) * CAST(n - 1 AS FLOAT64)) AS INT64) AS wait_p95_ms_lo,
      CAST(0.95 AS FLOAT64) * CAST(n - 1 AS FLOAT64) - FLOOR(CAST(0.95 AS FLOAT64) * CAST(n - 1 AS FLOAT64)) AS wait_p95_ms_f
    FROM (
      SELECT {n.TASK_NAME}, ARRAY_AGG(ms ORDER BY ms) AS v, COUNT(*) AS n
      FROM waits
      GROUP BY 1
    )
  )
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
