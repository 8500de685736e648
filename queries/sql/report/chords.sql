-- chords: per chord, what its members' lines, the chord monitor's and Celery's chord lines
-- and the callback's lines say; the state is decided from these columns (see
-- analyzers.sources.log_analytics, which follows analyzers.report.chords).
WITH {entries},
members AS (
  -- the callback's own lines carry the chord's group and callback id too: not a member
  SELECT
    {n.GROUP_ID} AS {n.CHORD_ID}, {n.TASK_ID}, {n.TIME}, ok, {n.CHORD_CALLBACK_ID},
    {n.CHORD_CALLBACK_NAME}, {n.CHORD_SIZE}, {n.ORGANIZATION_ID},
    {n.EVENT} IN ('{e.TASK_SUCCEEDED}', '{e.TASK_FAILED}', '{e.TASK_REVOKED}') AS finished,
    {n.EVENT} IN ('{e.TASK_FAILED}', '{e.TASK_REVOKED}') AS failed
  FROM entries
  WHERE {n.GROUP_ID} IS NOT NULL
    AND ({n.CHORD_CALLBACK_ID} IS NOT NULL OR {n.CHORD_SIZE} IS NOT NULL)
    AND {n.EVENT} IN ({task_events})
    AND NOT COALESCE({n.TASK_ID} = {n.CHORD_CALLBACK_ID}, FALSE)
),
member_agg AS (
  SELECT
    {n.CHORD_ID},
    MIN_BY({n.CHORD_CALLBACK_ID}, IF({n.CHORD_CALLBACK_ID} IS NULL, '~', ok)) AS callback_id,
    MIN_BY({n.CHORD_CALLBACK_NAME}, IF({n.CHORD_CALLBACK_NAME} IS NULL, '~', ok))
      AS callback_name,
    MIN_BY({n.ORGANIZATION_ID}, IF({n.ORGANIZATION_ID} IS NULL, '~', ok)) AS org,
    MAX({n.CHORD_SIZE}) AS expected,
    MIN({n.TIME}) AS first_seen,
    MAX({n.TIME}) AS last_activity,
    COUNT(DISTINCT {n.TASK_ID}) AS members_published,
    COUNT(DISTINCT IF(finished, {n.TASK_ID}, NULL)) AS members_finished,
    COUNT(DISTINCT IF(failed, {n.TASK_ID}, NULL)) AS members_failed,
    MIN(ok) AS _order
  FROM members
  GROUP BY 1
),
chord_lines AS (
  SELECT
    COALESCE({n.CHORD_ID}, {n.GROUP_ID},
             REGEXP_EXTRACT({n.MESSAGE}, r"Chord(?: callback)? '([^']+)' raised")) AS {n.CHORD_ID},
    {n.EVENT}, {n.TIME}, ok, {n.CHORD_CALLBACK_ID}, {n.CHORD_CALLBACK_NAME},
    {n.ORGANIZATION_ID}, {n.MEMBERS_EXPECTED}
  FROM entries
  WHERE {n.EVENT} IN ({chord_events})
),
event_agg AS (
  SELECT
    {n.CHORD_ID},
    MIN_BY({n.CHORD_CALLBACK_ID}, IF({n.CHORD_CALLBACK_ID} IS NULL, '~', ok)) AS callback_id,
    MIN_BY({n.CHORD_CALLBACK_NAME}, IF({n.CHORD_CALLBACK_NAME} IS NULL, '~', ok))
      AS callback_name,
    MIN_BY({n.ORGANIZATION_ID}, IF({n.ORGANIZATION_ID} IS NULL, '~', ok)) AS org,
    MAX({n.MEMBERS_EXPECTED}) AS expected,
    MIN({n.TIME}) AS first_seen,
    MAX({n.TIME}) AS last_activity,
    MAX_BY({n.EVENT}, ok) AS last_event,
    LOGICAL_OR({n.EVENT} = '{e.CHORD_ERROR}') AS chord_error
  FROM chord_lines
  WHERE {n.CHORD_ID} IS NOT NULL
  GROUP BY 1
),
joined AS (
  SELECT
    COALESCE(m.{n.CHORD_ID}, e.{n.CHORD_ID}) AS {n.CHORD_ID},
    m.callback_id AS m_callback_id, m.callback_name AS m_callback_name, m.org AS m_org,
    m.expected AS m_expected, m.first_seen AS m_first_seen, m.last_activity AS m_last_activity,
    m.members_published, m.members_finished, m.members_failed, m._order,
    e.callback_id AS e_callback_id, e.callback_name AS e_callback_name, e.org AS e_org,
    e.expected AS e_expected, e.first_seen AS e_first_seen, e.last_activity AS e_last_activity,
    e.last_event AS e_last_event, e.chord_error AS e_chord_error,
    COALESCE(m.callback_id, e.callback_id) AS callback_id
  FROM member_agg AS m
  FULL OUTER JOIN event_agg AS e ON e.{n.CHORD_ID} = m.{n.CHORD_ID}
),
callback_lines AS (
  SELECT
    {n.TASK_ID},
    MAX({n.TIME}) AS cb_last,
    LOGICAL_OR({n.EVENT} IN ({callback_seen})) AS cb_seen
  FROM entries
  WHERE {n.TASK_ID} IN (SELECT callback_id FROM joined)
  GROUP BY 1
)
SELECT j.*, cb.cb_last, COALESCE(cb.cb_seen, FALSE) AS cb_seen,
       (SELECT COUNT(*) FROM event_agg) AS n_event_chords
FROM joined AS j
LEFT JOIN callback_lines AS cb ON cb.{n.TASK_ID} = j.callback_id
