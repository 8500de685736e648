-- title: Stuck chords (Log Analytics)
-- description: The analyzer's stuck chords from the logs alone: chords whose callback never arrived, with no member failed, no chord error and no activity for stuck_after_s before the end of the window (or that the chord monitor reported stuck and nothing settled since).
-- param: stuck_after_s=900
WITH entries AS (
  SELECT
    timestamp,
    {j.EVENT} AS {n.EVENT},
    {j.TASK_ID} AS {n.TASK_ID},
    {j.GROUP_ID} AS {n.GROUP_ID},
    {j.CHORD_ID} AS {n.CHORD_ID},
    {j.CHORD_CALLBACK_ID} AS {n.CHORD_CALLBACK_ID},
    {j.CHORD_CALLBACK_NAME} AS {n.CHORD_CALLBACK_NAME},
    {num.CHORD_SIZE} AS {n.CHORD_SIZE},
    {j.ORGANIZATION_ID} AS {n.ORGANIZATION_ID},
    {num.MEMBERS_EXPECTED} AS {n.MEMBERS_EXPECTED},
    {j.MESSAGE} AS {n.MESSAGE}
  FROM {table}
  WHERE {where}
),
now_ts AS (
  -- the end of the window, else the newest line read
  SELECT COALESCE({now}, MAX(timestamp)) AS end_ts FROM entries
),
members AS (
  SELECT
    {n.GROUP_ID} AS {n.CHORD_ID},
    {n.TASK_ID},
    timestamp,
    {n.CHORD_CALLBACK_ID},
    {n.CHORD_CALLBACK_NAME},
    {n.CHORD_SIZE},
    {n.ORGANIZATION_ID},
    {n.EVENT} IN ('{e.TASK_SUCCEEDED}', '{e.TASK_FAILED}', '{e.TASK_REVOKED}') AS finished,
    {n.EVENT} IN ('{e.TASK_FAILED}', '{e.TASK_REVOKED}') AS failed
  FROM entries
  WHERE {n.GROUP_ID} IS NOT NULL
    AND ({n.CHORD_CALLBACK_ID} IS NOT NULL OR {n.CHORD_SIZE} IS NOT NULL)
    AND {n.EVENT} IN ('{e.TASK_PUBLISHED}', '{e.TASK_RECEIVED}', '{e.TASK_STARTED}',
                      '{e.TASK_SUCCEEDED}', '{e.TASK_FAILED}', '{e.TASK_RETRIED}',
                      '{e.TASK_REVOKED}', '{e.TASK_REJECTED}', '{e.TASK_UNKNOWN}',
                      '{e.TASK_INTERNAL_ERROR}')
),
member_agg AS (
  SELECT
    {n.CHORD_ID},
    MAX({n.CHORD_CALLBACK_ID}) AS {n.CHORD_CALLBACK_ID},
    MAX({n.CHORD_CALLBACK_NAME}) AS {n.CHORD_CALLBACK_NAME},
    MAX({n.ORGANIZATION_ID}) AS {n.ORGANIZATION_ID},
    MAX({n.CHORD_SIZE}) AS expected,
    MIN(timestamp) AS first_seen,
    MAX(timestamp) AS last_activity,
    COUNT(DISTINCT {n.TASK_ID}) AS members_published,
    COUNT(DISTINCT IF(finished, {n.TASK_ID}, NULL)) AS members_finished,
    COUNT(DISTINCT IF(failed, {n.TASK_ID}, NULL)) AS {n.MEMBERS_FAILED}
  FROM members
  GROUP BY {n.CHORD_ID}
),
chord_events AS (
  SELECT
    COALESCE({n.CHORD_ID}, {n.GROUP_ID},
             REGEXP_EXTRACT({n.MESSAGE}, r"Chord(?: callback)? '([^']+)' raised")) AS {n.CHORD_ID},
    {n.EVENT}, timestamp, {n.CHORD_CALLBACK_ID}, {n.CHORD_CALLBACK_NAME}, {n.ORGANIZATION_ID},
    {n.MEMBERS_EXPECTED}
  FROM entries
  WHERE {n.EVENT} IN ('{e.CHORD_STUCK}', '{e.CHORD_REVOKED}', '{e.CHORD_RECOVERED}',
                      '{e.CHORD_CLEANED}', '{e.CHORD_ERROR}')
),
event_agg AS (
  SELECT
    {n.CHORD_ID},
    MAX({n.CHORD_CALLBACK_ID}) AS {n.CHORD_CALLBACK_ID},
    MAX({n.CHORD_CALLBACK_NAME}) AS {n.CHORD_CALLBACK_NAME},
    MAX({n.ORGANIZATION_ID}) AS {n.ORGANIZATION_ID},
    MAX({n.MEMBERS_EXPECTED}) AS expected,
    MIN(timestamp) AS first_seen,
    MAX(timestamp) AS last_activity,
    MAX_BY({n.EVENT}, timestamp) AS last_event,
    LOGICAL_OR({n.EVENT} = '{e.CHORD_ERROR}') AS chord_error
  FROM chord_events
  WHERE {n.CHORD_ID} IS NOT NULL
  GROUP BY {n.CHORD_ID}
),
callback_lines AS (
  SELECT
    {n.TASK_ID},
    MAX(timestamp) AS last_line,
    LOGICAL_OR({n.EVENT} IN ('{e.TASK_RECEIVED}', '{e.TASK_STARTED}', '{e.TASK_SUCCEEDED}',
                             '{e.TASK_FAILED}', '{e.TASK_RETRIED}')) AS seen
  FROM entries
  WHERE {n.TASK_ID} IN (SELECT {n.CHORD_CALLBACK_ID} FROM members
                        UNION DISTINCT SELECT {n.CHORD_CALLBACK_ID} FROM chord_events)
  GROUP BY {n.TASK_ID}
),
chords AS (
  SELECT
    COALESCE(m.{n.CHORD_ID}, e.{n.CHORD_ID}) AS {n.CHORD_ID},
    COALESCE(m.{n.CHORD_CALLBACK_ID}, e.{n.CHORD_CALLBACK_ID}) AS {n.CHORD_CALLBACK_ID},
    COALESCE(m.{n.CHORD_CALLBACK_NAME}, e.{n.CHORD_CALLBACK_NAME}) AS {n.CHORD_CALLBACK_NAME},
    COALESCE(m.{n.ORGANIZATION_ID}, e.{n.ORGANIZATION_ID}) AS {n.ORGANIZATION_ID},
    CAST(COALESCE(m.expected, e.expected, m.members_published, 0) AS INT64)
      AS {n.MEMBERS_EXPECTED},
    COALESCE(m.members_published, 0) AS members_published,
    COALESCE(m.members_finished, 0) AS members_finished,
    COALESCE(m.{n.MEMBERS_FAILED}, 0) AS {n.MEMBERS_FAILED},
    LEAST(COALESCE(m.first_seen, e.first_seen), COALESCE(e.first_seen, m.first_seen))
      AS first_seen,
    GREATEST(COALESCE(m.last_activity, e.last_activity), COALESCE(e.last_activity, m.last_activity))
      AS chord_last,
    e.last_event,
    COALESCE(e.chord_error, FALSE) AS chord_error
  FROM member_agg AS m
  FULL OUTER JOIN event_agg AS e ON m.{n.CHORD_ID} = e.{n.CHORD_ID}
),
judged AS (
  SELECT
    c.*,
    COALESCE(cb.seen, FALSE) AS callback_received,
    GREATEST(c.chord_last, COALESCE(cb.last_line, c.chord_last)) AS last_activity
  FROM chords AS c
  LEFT JOIN callback_lines AS cb ON cb.{n.TASK_ID} = c.{n.CHORD_CALLBACK_ID}
),
stated AS (
  SELECT
    *,
    GREATEST(TIMESTAMP_DIFF(now_ts.end_ts, last_activity, MICROSECOND) / 1e6, 0) AS idle_s,
    CASE
      WHEN callback_received THEN 'completed'
      WHEN last_event = '{e.CHORD_RECOVERED}' THEN 'recovered'
      WHEN last_event = '{e.CHORD_REVOKED}' THEN 'revoked'
      WHEN last_event = '{e.CHORD_CLEANED}' THEN 'cleaned'
      WHEN chord_error OR {n.MEMBERS_FAILED} > 0 THEN 'failed'
      WHEN last_event = '{e.CHORD_STUCK}' THEN 'stuck'
      WHEN TIMESTAMP_DIFF(now_ts.end_ts, last_activity, MICROSECOND) >= CAST({stuck_after_s} AS INT64) * 1000000
        THEN 'stuck'
      ELSE 'pending'
    END AS chord_state
  FROM judged CROSS JOIN now_ts
)
SELECT
  {n.CHORD_ID}, chord_state, {n.CHORD_CALLBACK_ID}, {n.CHORD_CALLBACK_NAME},
  {n.ORGANIZATION_ID}, {n.MEMBERS_EXPECTED}, members_published, members_finished,
  {n.MEMBERS_FAILED}, callback_received, first_seen, last_activity, ROUND(idle_s, 3) AS idle_s
FROM stated
WHERE chord_state = 'stuck'
ORDER BY idle_s DESC
