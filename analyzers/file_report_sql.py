"""The report's queries in DuckDB's dialect: ``python -m analyzers.file_report``.

Generated: do not edit. (digest of the GoogleSQL, DuckDB SQL) per query; see
``analyzers.file_report``.
"""

QUERIES: dict[str, tuple[str, str]] = {
    'overview': ('33f62f1dfc09aec8', (
        'WITH base AS NOT MATERIALIZED (SELECT timestamp AS time, order_key AS ok'
        ', NOT json_payload IS NULL AS has_json, text_payload, event AS event, ta'
        'sk_id AS task_id, task_name AS task_name, organization_id AS organizatio'
        'n_id, user_id AS user_id, CAST(retries AS TEXT) AS retries_text, CAST(re'
        'tries AS DOUBLE) AS retries, exception_type AS exception_type, exception'
        '_message AS exception_message, CAST(duration_ms AS DOUBLE) AS duration_m'
        's, CAST(queue_wait_ms AS DOUBLE) AS queue_wait_ms, group_id AS group_id,'
        ' chord_id AS chord_id, chord_callback_id AS chord_callback_id, chord_cal'
        'lback_name AS chord_callback_name, CAST(chord_size AS DOUBLE) AS chord_s'
        'ize, CAST(members_expected AS DOUBLE) AS members_expected, message AS me'
        "ssage, worker AS worker, reason AS reason, CAST(redelivered AS TEXT) = '"
        "true' AS redelivered, JSON_VALUE(resource.labels, '$.pod_name') ->> '$' "
        'AS pod FROM rhesis_logs WHERE __rhesis_where__), entries AS NOT MATERIAL'
        'IZED (SELECT * FROM base WHERE __rhesis_filters__), lines AS (SELECT COU'
        'NT(*) AS records, COUNT_IF(NOT has_json AND text_payload IS NULL) AS no_'
        'payload, COUNT_IF(NOT has_json AND NOT text_payload IS NULL) AS text_ent'
        "ries, COUNT_IF(NOT has_json AND REGEXP_MATCHES(text_payload, '(?:\\] Task"
        ' \\S+\\[\\S+\\] (received|succeeded in|retry:|raised|INTERNAL ERROR))|(?:(Ch'
        "ord ''\\S+'' raised|time limit \\(|Task handler raised error|Connection to"
        ' broker lost|missed heartbeat from|Discarding revoked task|Received unre'
        "gistered task| ready\\.$))')) AS text_events FROM base), tasks AS (SELECT"
        " COUNT_IF(event = 'task_received') AS received, COUNT_IF(event = 'task_s"
        "tarted') AS started, COUNT_IF(event = 'task_succeeded') AS succeeded, CO"
        "UNT_IF(event = 'task_retried') AS retried, COUNT_IF(event = 'task_revoke"
        "d') AS revoked, COUNT_IF(event = 'task_rejected') AS rejected, COUNT(DIS"
        "TINCT CASE WHEN event IN ('task_failed', 'task_internal_error', 'task_pu"
        "blished', 'task_received', 'task_rejected', 'task_retried', 'task_revoke"
        "d', 'task_started', 'task_succeeded', 'task_unknown') THEN task_id ELSE "
        'NULL END) AS task_ids, COUNT(DISTINCT organization_id) AS tenants, COUNT'
        '(*) AS view_rows, MIN(time) AS first_seen, MAX(time) AS last_seen, MIN(C'
        "ASE WHEN event IN ('task_received', 'task_succeeded', 'task_failed', 'ta"
        "sk_retried') THEN time ELSE NULL END) AS series_first, MAX(CASE WHEN eve"
        "nt IN ('task_received', 'task_succeeded', 'task_failed', 'task_retried')"
        ' THEN time ELSE NULL END) AS series_last FROM entries), failed AS (/* at'
        'tempts, not lines: one per task id and retry number */ SELECT COUNT(DIST'
        "INCT CASE WHEN task_id IS NULL THEN NULL ELSE task_id || '|' || COALESCE"
        "(retries_text, '-') END) + COUNT_IF(task_id IS NULL) AS failed FROM entr"
        "ies WHERE event = 'task_failed') SELECT * FROM lines CROSS JOIN tasks CR"
        'OSS JOIN failed'
    )),
    'failures': ('f836bfb28b007fea', (
        'WITH base AS NOT MATERIALIZED (SELECT timestamp AS time, order_key AS ok'
        ', NOT json_payload IS NULL AS has_json, text_payload, event AS event, ta'
        'sk_id AS task_id, task_name AS task_name, organization_id AS organizatio'
        'n_id, user_id AS user_id, CAST(retries AS TEXT) AS retries_text, CAST(re'
        'tries AS DOUBLE) AS retries, exception_type AS exception_type, exception'
        '_message AS exception_message, CAST(duration_ms AS DOUBLE) AS duration_m'
        's, CAST(queue_wait_ms AS DOUBLE) AS queue_wait_ms, group_id AS group_id,'
        ' chord_id AS chord_id, chord_callback_id AS chord_callback_id, chord_cal'
        'lback_name AS chord_callback_name, CAST(chord_size AS DOUBLE) AS chord_s'
        'ize, CAST(members_expected AS DOUBLE) AS members_expected, message AS me'
        "ssage, worker AS worker, reason AS reason, CAST(redelivered AS TEXT) = '"
        "true' AS redelivered, JSON_VALUE(resource.labels, '$.pod_name') ->> '$' "
        'AS pod FROM rhesis_logs WHERE __rhesis_where__), entries AS NOT MATERIAL'
        'IZED (SELECT * FROM base WHERE __rhesis_filters__), lines AS (SELECT tim'
        "e, ok, COALESCE(task_name, '<unknown>') AS task_name, COALESCE(exception"
        "_type, '<unknown>') AS exception_type, task_id, organization_id, excepti"
        'on_message, ROW_NUMBER() OVER (PARTITION BY task_id, retries_text ORDER '
        "BY ok NULLS FIRST) AS nth FROM entries WHERE event IN ('task_failed', 't"
        "ask_internal_error')), picked AS (/* a time limit is logged by the pool "
        'and by the worker: one failure per attempt */ SELECT *, SUBSTRING(TRIM(R'
        'EGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLAC'
        "E(REGEXP_REPLACE(COALESCE(exception_message, ''), '(?i)[0-9a-f]{8}-[0-9a"
        "-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g'), '(?i)\\b0x[0-"
        "9a-f]+\\b', '<hex>', 'g'), '(?i)\\b[0-9a-f]*[0-9][0-9a-f]*[a-f][0-9a-f]*\\b"
        "', '<hex>', 'g'), '(?i)\\b[0-9a-f]*[a-f][0-9a-f]*[0-9][0-9a-f]*\\b', '<hex"
        ">', 'g'), '\\d+(?:\\.\\d+)?', '<n>', 'g'), '\\s+', ' ', 'g')), 1, 200) AS fi"
        'ngerprint FROM lines WHERE task_id IS NULL OR nth = 1), top AS (SELECT t'
        "ask_name, exception_type, fingerprint, LISTAGG(v, ', ' ORDER BY v NULLS "
        'FIRST) AS top, ANY_VALUE(n) AS distinct_values FROM (SELECT task_name, e'
        'xception_type, fingerprint, v, ROW_NUMBER() OVER (PARTITION BY task_name'
        ', exception_type, fingerprint ORDER BY v NULLS FIRST) AS r, COUNT(*) OVE'
        'R (PARTITION BY task_name, exception_type, fingerprint) AS n FROM (SELEC'
        'T DISTINCT task_name, exception_type, fingerprint, CAST(organization_id '
        'AS TEXT) AS v FROM picked WHERE NOT organization_id IS NULL)) WHERE r <='
        ' 5 GROUP BY task_name, exception_type, fingerprint) SELECT g.task_name, '
        'g.exception_type, g.fingerprint, g.count, g.tenants, t.top AS tenant_ids'
        ', t.distinct_values AS tenant_count, g.first_seen, g.last_seen, g.exampl'
        'e_task_id, g.example_message, g._order FROM (SELECT task_name, exception'
        '_type, fingerprint, COUNT(*) AS count, COUNT(DISTINCT organization_id) A'
        'S tenants, MIN(time) AS first_seen, MAX(time) AS last_seen, ARG_MIN(task'
        "_id, CASE WHEN task_id IS NULL THEN '~' ELSE ok END) AS example_task_id,"
        " ARG_MIN(exception_message, CASE WHEN exception_message IS NULL THEN '~'"
        ' ELSE ok END) AS example_message, MIN(ok) AS _order FROM picked GROUP BY'
        ' task_name, exception_type, fingerprint) AS g LEFT JOIN top AS t ON t.ta'
        'sk_name = g.task_name AND t.exception_type = g.exception_type AND t.fing'
        'erprint = g.fingerprint'
    )),
    'retries': ('f7c8941b073d11fc', (
        'WITH base AS NOT MATERIALIZED (SELECT timestamp AS time, order_key AS ok'
        ', NOT json_payload IS NULL AS has_json, text_payload, event AS event, ta'
        'sk_id AS task_id, task_name AS task_name, organization_id AS organizatio'
        'n_id, user_id AS user_id, CAST(retries AS TEXT) AS retries_text, CAST(re'
        'tries AS DOUBLE) AS retries, exception_type AS exception_type, exception'
        '_message AS exception_message, CAST(duration_ms AS DOUBLE) AS duration_m'
        's, CAST(queue_wait_ms AS DOUBLE) AS queue_wait_ms, group_id AS group_id,'
        ' chord_id AS chord_id, chord_callback_id AS chord_callback_id, chord_cal'
        'lback_name AS chord_callback_name, CAST(chord_size AS DOUBLE) AS chord_s'
        'ize, CAST(members_expected AS DOUBLE) AS members_expected, message AS me'
        "ssage, worker AS worker, reason AS reason, CAST(redelivered AS TEXT) = '"
        "true' AS redelivered, JSON_VALUE(resource.labels, '$.pod_name') ->> '$' "
        'AS pod FROM rhesis_logs WHERE __rhesis_where__), entries AS NOT MATERIAL'
        'IZED (SELECT * FROM base WHERE __rhesis_filters__), picked AS (SELECT ti'
        "me, ok, COALESCE(task_name, '<unknown>') AS task_name, COALESCE(exceptio"
        "n_type, '<unknown>') AS exception_type, task_id, organization_id, except"
        "ion_message, retries FROM entries WHERE event = 'task_retried'), top AS "
        "(SELECT task_name, exception_type, LISTAGG(v, ', ' ORDER BY v NULLS FIRS"
        'T) AS top, ANY_VALUE(n) AS distinct_values FROM (SELECT task_name, excep'
        'tion_type, v, ROW_NUMBER() OVER (PARTITION BY task_name, exception_type '
        'ORDER BY v NULLS FIRST) AS r, COUNT(*) OVER (PARTITION BY task_name, exc'
        'eption_type) AS n FROM (SELECT DISTINCT task_name, exception_type, CAST('
        'organization_id AS TEXT) AS v FROM picked WHERE NOT organization_id IS N'
        'ULL)) WHERE r <= 5 GROUP BY task_name, exception_type) SELECT g.*, t.top'
        ' AS tenant_ids, t.distinct_values AS tenant_count FROM (SELECT task_name'
        ', exception_type, COUNT(*) AS count, COUNT(DISTINCT task_id) AS task_ids'
        ', CAST(MAX(retries) AS BIGINT) /* the retries field counts the retries b'
        'efore this one: the n-th retry logs n-1 */ + 1 AS max_retries, COUNT(DIS'
        'TINCT organization_id) AS tenants, MIN(time) AS first_seen, MAX(time) AS'
        " last_seen, ARG_MIN(task_id, CASE WHEN task_id IS NULL THEN '~' ELSE ok "
        'END) AS example_task_id, ARG_MIN(exception_message, CASE WHEN exception_'
        "message IS NULL THEN '~' ELSE ok END) AS example_message, MIN(ok) AS _or"
        'der FROM picked GROUP BY task_name, exception_type) AS g LEFT JOIN top A'
        'S t ON t.task_name = g.task_name AND t.exception_type = g.exception_type'
    )),
    'retry_id_storms': ('6bd2ae76e515431d', (
        'WITH base AS NOT MATERIALIZED (SELECT timestamp AS time, order_key AS ok'
        ', NOT json_payload IS NULL AS has_json, text_payload, event AS event, ta'
        'sk_id AS task_id, task_name AS task_name, organization_id AS organizatio'
        'n_id, user_id AS user_id, CAST(retries AS TEXT) AS retries_text, CAST(re'
        'tries AS DOUBLE) AS retries, exception_type AS exception_type, exception'
        '_message AS exception_message, CAST(duration_ms AS DOUBLE) AS duration_m'
        's, CAST(queue_wait_ms AS DOUBLE) AS queue_wait_ms, group_id AS group_id,'
        ' chord_id AS chord_id, chord_callback_id AS chord_callback_id, chord_cal'
        'lback_name AS chord_callback_name, CAST(chord_size AS DOUBLE) AS chord_s'
        'ize, CAST(members_expected AS DOUBLE) AS members_expected, message AS me'
        "ssage, worker AS worker, reason AS reason, CAST(redelivered AS TEXT) = '"
        "true' AS redelivered, JSON_VALUE(resource.labels, '$.pod_name') ->> '$' "
        'AS pod FROM rhesis_logs WHERE __rhesis_where__), entries AS NOT MATERIAL'
        'IZED (SELECT * FROM base WHERE __rhesis_filters__), pairs AS (SELECT COA'
        "LESCE(task_name, '<unknown>') AS task_name, task_id, COUNT(*) AS count, "
        "ARG_MIN(organization_id, CASE WHEN organization_id IS NULL THEN '~' ELSE"
        ' ok END) AS organization_id, MIN(time) AS first_seen, MAX(time) AS last_'
        "seen, MIN(ok) AS _order FROM entries WHERE event = 'task_retried' AND NO"
        'T task_id IS NULL GROUP BY 1, 2), normed AS (SELECT *, QUANTILE_CONT(cou'
        'nt, 0.5) OVER (PARTITION BY task_name) AS median, COUNT(*) OVER (PARTITI'
        'ON BY task_name) AS siblings, SUM(count) OVER (PARTITION BY task_name) A'
        'S total FROM pairs), judged AS (SELECT *, CASE WHEN CASE WHEN siblings <'
        '= 1 THEN 1.0 WHEN siblings = 2 THEN CAST(total - count AS DOUBLE) ELSE m'
        'edian END IS NULL OR 1.0 IS NULL THEN NULL ELSE GREATEST(CASE WHEN sibli'
        'ngs <= 1 THEN 1.0 WHEN siblings = 2 THEN CAST(total - count AS DOUBLE) E'
        'LSE median END, 1.0) END AS norm FROM normed) SELECT task_name, task_id,'
        ' count, norm, count / norm AS ratio, organization_id, first_seen, last_s'
        'een, _order FROM judged WHERE count >= __rhesis_min_retries__ AND count '
        '/ norm >= __rhesis_factor__'
    )),
    'retry_buckets': ('6804d8bb61b4ab20', (
        'WITH base AS NOT MATERIALIZED (SELECT timestamp AS time, order_key AS ok'
        ', NOT json_payload IS NULL AS has_json, text_payload, event AS event, ta'
        'sk_id AS task_id, task_name AS task_name, organization_id AS organizatio'
        'n_id, user_id AS user_id, CAST(retries AS TEXT) AS retries_text, CAST(re'
        'tries AS DOUBLE) AS retries, exception_type AS exception_type, exception'
        '_message AS exception_message, CAST(duration_ms AS DOUBLE) AS duration_m'
        's, CAST(queue_wait_ms AS DOUBLE) AS queue_wait_ms, group_id AS group_id,'
        ' chord_id AS chord_id, chord_callback_id AS chord_callback_id, chord_cal'
        'lback_name AS chord_callback_name, CAST(chord_size AS DOUBLE) AS chord_s'
        'ize, CAST(members_expected AS DOUBLE) AS members_expected, message AS me'
        "ssage, worker AS worker, reason AS reason, CAST(redelivered AS TEXT) = '"
        "true' AS redelivered, JSON_VALUE(resource.labels, '$.pod_name') ->> '$' "
        'AS pod FROM rhesis_logs WHERE __rhesis_where__), entries AS NOT MATERIAL'
        'IZED (SELECT * FROM base WHERE __rhesis_filters__) SELECT COALESCE(task_'
        "name, '<unknown>') AS task_name, EPOCH_US(time) // __rhesis_bucket_us__ "
        'AS bucket_no, COUNT(*) AS count, ARG_MIN(organization_id, CASE WHEN orga'
        "nization_id IS NULL THEN '~' ELSE ok END) AS organization_id, MIN(time) "
        'AS first_seen, MAX(time) AS last_seen, MIN(ok) AS _order FROM entries WH'
        "ERE event = 'task_retried' AND NOT time IS NULL GROUP BY 1, 2"
    )),
    'retry_outcomes': ('d6ba7ec59d52d00d', (
        'WITH base AS NOT MATERIALIZED (SELECT timestamp AS time, order_key AS ok'
        ', NOT json_payload IS NULL AS has_json, text_payload, event AS event, ta'
        'sk_id AS task_id, task_name AS task_name, organization_id AS organizatio'
        'n_id, user_id AS user_id, CAST(retries AS TEXT) AS retries_text, CAST(re'
        'tries AS DOUBLE) AS retries, exception_type AS exception_type, exception'
        '_message AS exception_message, CAST(duration_ms AS DOUBLE) AS duration_m'
        's, CAST(queue_wait_ms AS DOUBLE) AS queue_wait_ms, group_id AS group_id,'
        ' chord_id AS chord_id, chord_callback_id AS chord_callback_id, chord_cal'
        'lback_name AS chord_callback_name, CAST(chord_size AS DOUBLE) AS chord_s'
        'ize, CAST(members_expected AS DOUBLE) AS members_expected, message AS me'
        "ssage, worker AS worker, reason AS reason, CAST(redelivered AS TEXT) = '"
        "true' AS redelivered, JSON_VALUE(resource.labels, '$.pod_name') ->> '$' "
        'AS pod FROM rhesis_logs WHERE __rhesis_where__), entries AS NOT MATERIAL'
        'IZED (SELECT * FROM base WHERE __rhesis_filters__), retried AS (/* an id'
        "'s task name is the one on its first retry line */ SELECT task_id, ARG_M"
        "IN(COALESCE(task_name, '<unknown>'), ok) AS task_name FROM entries WHERE"
        " event = 'task_retried' AND NOT task_id IS NULL GROUP BY 1), ends AS (SE"
        "LECT task_id, BOOL_OR(CAST(event = 'task_succeeded' AS BOOLEAN)) AS ok, "
        "BOOL_OR(CAST(event IN ('task_failed', 'task_internal_error') AS BOOLEAN)"
        ") AS bad FROM entries WHERE event IN ('task_succeeded', 'task_failed', '"
        "task_internal_error') AND task_id IN (SELECT task_id FROM retried) GROUP"
        ' BY 1) SELECT r.task_name, COUNT(*) AS retried_ids, COUNT_IF(COALESCE(x.'
        'ok, FALSE)) AS recovered, COUNT_IF(NOT COALESCE(x.ok, FALSE) AND COALESC'
        'E(x.bad, FALSE)) AS exhausted, COUNT_IF(NOT COALESCE(x.ok, FALSE) AND NO'
        'T COALESCE(x.bad, FALSE)) AS pending FROM retried AS r LEFT JOIN ends AS'
        ' x ON x.task_id = r.task_id GROUP BY 1'
    )),
    'chords': ('06cb7ba6f38a17b5', (
        'WITH base AS NOT MATERIALIZED (SELECT timestamp AS time, order_key AS ok'
        ', NOT json_payload IS NULL AS has_json, text_payload, event AS event, ta'
        'sk_id AS task_id, task_name AS task_name, organization_id AS organizatio'
        'n_id, user_id AS user_id, CAST(retries AS TEXT) AS retries_text, CAST(re'
        'tries AS DOUBLE) AS retries, exception_type AS exception_type, exception'
        '_message AS exception_message, CAST(duration_ms AS DOUBLE) AS duration_m'
        's, CAST(queue_wait_ms AS DOUBLE) AS queue_wait_ms, group_id AS group_id,'
        ' chord_id AS chord_id, chord_callback_id AS chord_callback_id, chord_cal'
        'lback_name AS chord_callback_name, CAST(chord_size AS DOUBLE) AS chord_s'
        'ize, CAST(members_expected AS DOUBLE) AS members_expected, message AS me'
        "ssage, worker AS worker, reason AS reason, CAST(redelivered AS TEXT) = '"
        "true' AS redelivered, JSON_VALUE(resource.labels, '$.pod_name') ->> '$' "
        'AS pod FROM rhesis_logs WHERE __rhesis_where__), entries AS NOT MATERIAL'
        'IZED (SELECT * FROM base WHERE __rhesis_filters__), members AS (/* the c'
        "allback's own lines carry the chord's group and callback id too: not a m"
        'ember */ SELECT group_id AS chord_id, task_id, time, ok, chord_callback_'
        "id, chord_callback_name, chord_size, organization_id, event IN ('task_su"
        "cceeded', 'task_failed', 'task_revoked') AS finished, event IN ('task_fa"
        "iled', 'task_revoked') AS failed FROM entries WHERE NOT group_id IS NULL"
        ' AND (NOT chord_callback_id IS NULL OR NOT chord_size IS NULL) AND event'
        " IN ('task_failed', 'task_internal_error', 'task_published', 'task_recei"
        "ved', 'task_rejected', 'task_retried', 'task_revoked', 'task_started', '"
        "task_succeeded', 'task_unknown') AND NOT COALESCE(task_id = chord_callba"
        'ck_id, FALSE)), member_agg AS (SELECT chord_id, ARG_MIN(chord_callback_i'
        "d, CASE WHEN chord_callback_id IS NULL THEN '~' ELSE ok END) AS callback"
        '_id, ARG_MIN(chord_callback_name, CASE WHEN chord_callback_name IS NULL '
        "THEN '~' ELSE ok END) AS callback_name, ARG_MIN(organization_id, CASE WH"
        "EN organization_id IS NULL THEN '~' ELSE ok END) AS org, MAX(chord_size)"
        ' AS expected, MIN(time) AS first_seen, MAX(time) AS last_activity, COUNT'
        '(DISTINCT task_id) AS members_published, COUNT(DISTINCT CASE WHEN finish'
        'ed THEN task_id ELSE NULL END) AS members_finished, COUNT(DISTINCT CASE '
        'WHEN failed THEN task_id ELSE NULL END) AS members_failed, MIN(ok) AS _o'
        'rder FROM members GROUP BY 1), chord_lines AS (SELECT COALESCE(chord_id,'
        " group_id, ARRAY_EXTRACT(REGEXP_EXTRACT_ALL(message, 'Chord(?: callback)"
        "? ''([^'']+)'' raised', 1), 1)) AS chord_id, event, time, ok, chord_call"
        'back_id, chord_callback_name, organization_id, members_expected FROM ent'
        "ries WHERE event IN ('chord_cleaned', 'chord_recovered', 'chord_revoked'"
        ", 'chord_stuck', 'chord_error')), event_agg AS (SELECT chord_id, ARG_MIN"
        "(chord_callback_id, CASE WHEN chord_callback_id IS NULL THEN '~' ELSE ok"
        ' END) AS callback_id, ARG_MIN(chord_callback_name, CASE WHEN chord_callb'
        "ack_name IS NULL THEN '~' ELSE ok END) AS callback_name, ARG_MIN(organiz"
        "ation_id, CASE WHEN organization_id IS NULL THEN '~' ELSE ok END) AS org"
        ', MAX(members_expected) AS expected, MIN(time) AS first_seen, MAX(time) '
        'AS last_activity, ARG_MAX(event, ok) AS last_event, BOOL_OR(CAST(event ='
        " 'chord_error' AS BOOLEAN)) AS chord_error FROM chord_lines WHERE NOT ch"
        'ord_id IS NULL GROUP BY 1), joined AS (SELECT COALESCE(m.chord_id, e.cho'
        'rd_id) AS chord_id, m.callback_id AS m_callback_id, m.callback_name AS m'
        '_callback_name, m.org AS m_org, m.expected AS m_expected, m.first_seen A'
        'S m_first_seen, m.last_activity AS m_last_activity, m.members_published,'
        ' m.members_finished, m.members_failed, m._order, e.callback_id AS e_call'
        'back_id, e.callback_name AS e_callback_name, e.org AS e_org, e.expected '
        'AS e_expected, e.first_seen AS e_first_seen, e.last_activity AS e_last_a'
        'ctivity, e.last_event AS e_last_event, e.chord_error AS e_chord_error, C'
        'OALESCE(m.callback_id, e.callback_id) AS callback_id FROM member_agg AS '
        'm FULL OUTER JOIN event_agg AS e ON e.chord_id = m.chord_id), callback_l'
        "ines AS (SELECT task_id, MAX(time) AS cb_last, BOOL_OR(CAST(event IN ('t"
        "ask_received', 'task_started', 'task_succeeded', 'task_failed', 'task_re"
        "tried') AS BOOLEAN)) AS cb_seen FROM entries WHERE task_id IN (SELECT ca"
        'llback_id FROM joined) GROUP BY 1) SELECT j.*, cb.cb_last, COALESCE(cb.c'
        'b_seen, FALSE) AS cb_seen, (SELECT COUNT(*) FROM event_agg) AS n_event_c'
        'hords FROM joined AS j LEFT JOIN callback_lines AS cb ON cb.task_id = j.'
        'callback_id'
    )),
    'duplicates': ('d47ce3b77526410c', (
        'WITH base AS NOT MATERIALIZED (SELECT timestamp AS time, order_key AS ok'
        ', NOT json_payload IS NULL AS has_json, text_payload, event AS event, ta'
        'sk_id AS task_id, task_name AS task_name, organization_id AS organizatio'
        'n_id, user_id AS user_id, CAST(retries AS TEXT) AS retries_text, CAST(re'
        'tries AS DOUBLE) AS retries, exception_type AS exception_type, exception'
        '_message AS exception_message, CAST(duration_ms AS DOUBLE) AS duration_m'
        's, CAST(queue_wait_ms AS DOUBLE) AS queue_wait_ms, group_id AS group_id,'
        ' chord_id AS chord_id, chord_callback_id AS chord_callback_id, chord_cal'
        'lback_name AS chord_callback_name, CAST(chord_size AS DOUBLE) AS chord_s'
        'ize, CAST(members_expected AS DOUBLE) AS members_expected, message AS me'
        "ssage, worker AS worker, reason AS reason, CAST(redelivered AS TEXT) = '"
        "true' AS redelivered, JSON_VALUE(resource.labels, '$.pod_name') ->> '$' "
        'AS pod FROM rhesis_logs WHERE __rhesis_where__), entries AS NOT MATERIAL'
        'IZED (SELECT * FROM base WHERE __rhesis_filters__), lost_lines AS (SELEC'
        "T CASE WHEN event IN ('task_failed', 'task_internal_error') AND REGEXP_M"
        "ATCHES(COALESCE(exception_type, ''), 'TimeLimitExceeded$') AND NOT REGEX"
        "P_MATCHES(COALESCE(exception_type, ''), '[Ss]oftTimeLimitExceeded$') THE"
        "N 'time_limit' WHEN event IN ('task_failed', 'task_internal_error') AND "
        "REGEXP_MATCHES(COALESCE(exception_type, ''), 'WorkerLostError$') THEN 'w"
        "orker_lost' WHEN event = 'worker_lost' THEN 'worker_lost' WHEN event = '"
        "time_limit_exceeded' THEN 'time_limit' WHEN event = 'broker_connection_l"
        "ost' THEN 'broker_connection_lost' END AS kind, COALESCE(worker, pod, '<"
        "unknown>') AS worker, time, ok, COALESCE(task_id, ARRAY_EXTRACT(REGEXP_E"
        "XTRACT_ALL(message, '[\\w.:-]+\\[([0-9a-fA-F-]{8,})\\]', 1), 1)) AS task_id"
        ' /* Celery\'s "Hard time limit (1s) exceeded for tasks.x[<id>]" names the'
        ' task in its text */, COALESCE(task_name, ARRAY_EXTRACT(REGEXP_EXTRACT_A'
        "LL(message, '([\\w.:-]+)\\[[0-9a-fA-F-]{8,}\\]', 1), 1)) AS task_name, COAL"
        'ESCE(exception_message, reason, message) AS example_message FROM entries'
        " WHERE event IN ('task_failed', 'task_internal_error', 'worker_lost', 't"
        "ime_limit_exceeded', 'broker_connection_lost')), lost AS (/* a worker ma"
        "y log a lost task twice (the pool's error and the task's failure); ties "
        'in */ /* time put the lines with a task id first */ SELECT *, SUBSTRING('
        "ok, 1, 20) || CASE WHEN task_id IS NULL THEN '1' ELSE '0' END || ok AS l"
        'ost_order FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY kind, task_id '
        'ORDER BY ok NULLS FIRST) AS nth FROM lost_lines WHERE NOT kind IS NULL) '
        'WHERE task_id IS NULL OR nth = 1), counts AS (SELECT task_id, COUNT_IF(e'
        "vent = 'task_received') AS received, COUNT_IF(event = 'task_started') AS"
        " started, COUNT_IF(event = 'task_succeeded') AS succeeded, COUNT_IF(even"
        "t = 'task_retried') AS retried FROM entries WHERE NOT task_id IS NULL AN"
        "D event IN ('task_received', 'task_started', 'task_succeeded', 'task_ret"
        "ried') GROUP BY 1), dup AS (SELECT * FROM counts WHERE received > retrie"
        'd + 1 OR started > retried + 1 OR succeeded > 1), lines AS (SELECT e.* F'
        'ROM entries AS e JOIN dup AS d ON d.task_id = e.task_id WHERE e.event IN'
        " ('task_received', 'task_started', 'task_succeeded', 'task_retried')), g"
        'aps AS (/* the longest gap between two consecutive receptions of the id '
        "*/ SELECT task_id, MAX(DATE_DIFF('MICROSECOND', previous, time)) / 1e6 A"
        'S gap_s FROM (SELECT task_id, time, LAG(time) OVER (PARTITION BY task_id'
        " ORDER BY time NULLS FIRST) AS previous FROM lines WHERE event = 'task_r"
        "eceived' AND NOT time IS NULL) GROUP BY 1), per_id AS (SELECT task_id, A"
        "RG_MIN(task_name, CASE WHEN task_name IS NULL THEN '~' ELSE ok END) AS t"
        'ask_name, COUNT(DISTINCT COALESCE(worker, pod)) AS workers, ARG_MIN(orga'
        "nization_id, CASE WHEN organization_id IS NULL THEN '~' ELSE ok END) AS "
        'organization_id, MIN(time) AS first_seen, MAX(time) AS last_seen, BOOL_O'
        'R(CAST(COALESCE(redelivered, FALSE) AS BOOLEAN)) AS redelivered, MIN(ok)'
        ' AS _order FROM lines GROUP BY 1) SELECT p.*, d.received, d.started, d.s'
        'ucceeded, d.retried, g.gap_s, p.task_id IN (SELECT task_id FROM lost WHE'
        'RE NOT task_id IS NULL) AS lost_worker FROM per_id AS p JOIN dup AS d ON'
        ' d.task_id = p.task_id LEFT JOIN gaps AS g ON g.task_id = p.task_id'
    )),
    'lost_workers': ('70370b1064b39cd6', (
        'WITH base AS NOT MATERIALIZED (SELECT timestamp AS time, order_key AS ok'
        ', NOT json_payload IS NULL AS has_json, text_payload, event AS event, ta'
        'sk_id AS task_id, task_name AS task_name, organization_id AS organizatio'
        'n_id, user_id AS user_id, CAST(retries AS TEXT) AS retries_text, CAST(re'
        'tries AS DOUBLE) AS retries, exception_type AS exception_type, exception'
        '_message AS exception_message, CAST(duration_ms AS DOUBLE) AS duration_m'
        's, CAST(queue_wait_ms AS DOUBLE) AS queue_wait_ms, group_id AS group_id,'
        ' chord_id AS chord_id, chord_callback_id AS chord_callback_id, chord_cal'
        'lback_name AS chord_callback_name, CAST(chord_size AS DOUBLE) AS chord_s'
        'ize, CAST(members_expected AS DOUBLE) AS members_expected, message AS me'
        "ssage, worker AS worker, reason AS reason, CAST(redelivered AS TEXT) = '"
        "true' AS redelivered, JSON_VALUE(resource.labels, '$.pod_name') ->> '$' "
        'AS pod FROM rhesis_logs WHERE __rhesis_where__), entries AS NOT MATERIAL'
        'IZED (SELECT * FROM base WHERE __rhesis_filters__), lost_lines AS (SELEC'
        "T CASE WHEN event IN ('task_failed', 'task_internal_error') AND REGEXP_M"
        "ATCHES(COALESCE(exception_type, ''), 'TimeLimitExceeded$') AND NOT REGEX"
        "P_MATCHES(COALESCE(exception_type, ''), '[Ss]oftTimeLimitExceeded$') THE"
        "N 'time_limit' WHEN event IN ('task_failed', 'task_internal_error') AND "
        "REGEXP_MATCHES(COALESCE(exception_type, ''), 'WorkerLostError$') THEN 'w"
        "orker_lost' WHEN event = 'worker_lost' THEN 'worker_lost' WHEN event = '"
        "time_limit_exceeded' THEN 'time_limit' WHEN event = 'broker_connection_l"
        "ost' THEN 'broker_connection_lost' END AS kind, COALESCE(worker, pod, '<"
        "unknown>') AS worker, time, ok, COALESCE(task_id, ARRAY_EXTRACT(REGEXP_E"
        "XTRACT_ALL(message, '[\\w.:-]+\\[([0-9a-fA-F-]{8,})\\]', 1), 1)) AS task_id"
        ' /* Celery\'s "Hard time limit (1s) exceeded for tasks.x[<id>]" names the'
        ' task in its text */, COALESCE(task_name, ARRAY_EXTRACT(REGEXP_EXTRACT_A'
        "LL(message, '([\\w.:-]+)\\[[0-9a-fA-F-]{8,}\\]', 1), 1)) AS task_name, COAL"
        'ESCE(exception_message, reason, message) AS example_message FROM entries'
        " WHERE event IN ('task_failed', 'task_internal_error', 'worker_lost', 't"
        "ime_limit_exceeded', 'broker_connection_lost')), lost AS (/* a worker ma"
        "y log a lost task twice (the pool's error and the task's failure); ties "
        'in */ /* time put the lines with a task id first */ SELECT *, SUBSTRING('
        "ok, 1, 20) || CASE WHEN task_id IS NULL THEN '1' ELSE '0' END || ok AS l"
        'ost_order FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY kind, task_id '
        'ORDER BY ok NULLS FIRST) AS nth FROM lost_lines WHERE NOT kind IS NULL) '
        'WHERE task_id IS NULL OR nth = 1), picked AS (SELECT * FROM lost), top A'
        "S (SELECT kind, worker, LISTAGG(v, ', ' ORDER BY v NULLS FIRST) AS top, "
        'ANY_VALUE(n) AS distinct_values FROM (SELECT kind, worker, v, ROW_NUMBER'
        '() OVER (PARTITION BY kind, worker ORDER BY v NULLS FIRST) AS r, COUNT(*'
        ') OVER (PARTITION BY kind, worker) AS n FROM (SELECT DISTINCT kind, work'
        'er, CAST(task_name AS TEXT) AS v FROM picked WHERE NOT task_name IS NULL'
        ')) WHERE r <= 5 GROUP BY kind, worker) SELECT g.*, t.top AS task_name_to'
        'p, t.distinct_values AS task_name_count FROM (SELECT kind, worker, COUNT'
        '(*) AS count, COUNT(DISTINCT task_id) AS task_ids, MIN(time) AS first_se'
        'en, MAX(time) AS last_seen, ARG_MIN(task_id, CASE WHEN task_id IS NULL T'
        "HEN '~' ELSE lost_order END) AS example_task_id, ARG_MIN(example_message"
        ", CASE WHEN example_message IS NULL THEN '~' ELSE lost_order END) AS exa"
        'mple_message, MIN(lost_order) AS _order FROM picked GROUP BY 1, 2) AS g '
        'LEFT JOIN top AS t ON t.kind = g.kind AND t.worker = g.worker'
    )),
    'slow_tasks': ('7b4eed300032d965', (
        'WITH base AS NOT MATERIALIZED (SELECT timestamp AS time, order_key AS ok'
        ', NOT json_payload IS NULL AS has_json, text_payload, event AS event, ta'
        'sk_id AS task_id, task_name AS task_name, organization_id AS organizatio'
        'n_id, user_id AS user_id, CAST(retries AS TEXT) AS retries_text, CAST(re'
        'tries AS DOUBLE) AS retries, exception_type AS exception_type, exception'
        '_message AS exception_message, CAST(duration_ms AS DOUBLE) AS duration_m'
        's, CAST(queue_wait_ms AS DOUBLE) AS queue_wait_ms, group_id AS group_id,'
        ' chord_id AS chord_id, chord_callback_id AS chord_callback_id, chord_cal'
        'lback_name AS chord_callback_name, CAST(chord_size AS DOUBLE) AS chord_s'
        'ize, CAST(members_expected AS DOUBLE) AS members_expected, message AS me'
        "ssage, worker AS worker, reason AS reason, CAST(redelivered AS TEXT) = '"
        "true' AS redelivered, JSON_VALUE(resource.labels, '$.pod_name') ->> '$' "
        'AS pod FROM rhesis_logs WHERE __rhesis_where__), entries AS NOT MATERIAL'
        'IZED (SELECT * FROM base WHERE __rhesis_filters__), runs AS (SELECT COAL'
        "ESCE(task_name, '<unknown>') AS task_name, duration_ms AS ms, ok FROM en"
        "tries WHERE event IN ('task_failed', 'task_retried', 'task_revoked', 'ta"
        "sk_succeeded') AND NOT duration_ms IS NULL), received AS (/* the last re"
        'ceived line of each id and retry number */ SELECT task_id, retry_no, ARG'
        '_MAX(time, ok) AS received_at FROM (SELECT task_id, time, ok, CASE WHEN '
        'CASE WHEN CAST(COALESCE(retries, 0) AS BIGINT) IS NULL OR 0 IS NULL THEN'
        ' NULL ELSE GREATEST(CAST(COALESCE(retries, 0) AS BIGINT), 0) END IS NULL'
        ' OR 1023 IS NULL THEN NULL ELSE LEAST(CASE WHEN CAST(COALESCE(retries, 0'
        ') AS BIGINT) IS NULL OR 0 IS NULL THEN NULL ELSE GREATEST(CAST(COALESCE('
        'retries, 0) AS BIGINT), 0) END, 1023) END AS retry_no FROM entries WHERE'
        " event = 'task_received' AND NOT task_id IS NULL AND NOT time IS NULL) G"
        "ROUP BY 1, 2), started AS (SELECT COALESCE(task_name, '<unknown>') AS ta"
        'sk_name, task_id, time, ok, queue_wait_ms, CASE WHEN CASE WHEN CAST(COAL'
        'ESCE(retries, 0) AS BIGINT) IS NULL OR 0 IS NULL THEN NULL ELSE GREATEST'
        '(CAST(COALESCE(retries, 0) AS BIGINT), 0) END IS NULL OR 1023 IS NULL TH'
        'EN NULL ELSE LEAST(CASE WHEN CAST(COALESCE(retries, 0) AS BIGINT) IS NUL'
        'L OR 0 IS NULL THEN NULL ELSE GREATEST(CAST(COALESCE(retries, 0) AS BIGI'
        "NT), 0) END, 1023) END AS retry_no FROM entries WHERE event = 'task_star"
        "ted'), waits AS (SELECT * FROM (SELECT s.task_name, s.ok, COALESCE(s.que"
        "ue_wait_ms, CASE WHEN DATE_DIFF('MICROSECOND', r.received_at, s.time) >="
        " 0 THEN DATE_DIFF('MICROSECOND', r.received_at, s.time) / 1000.0 ELSE NU"
        'LL END) AS ms FROM started AS s LEFT JOIN received AS r ON r.task_id = s'
        '.task_id AND r.retry_no = s.retry_no) WHERE NOT ms IS NULL), run_pct AS '
        "(/* the order statistics from each name's sorted values */ SELECT task_n"
        'ame, CASE WHEN p50_ms_f = 0 THEN v[p50_ms_lo + 1] ELSE v[p50_ms_lo + 1] '
        '+ (v[CASE WHEN (p50_ms_lo + 1) IS NULL OR (n - 1) IS NULL THEN NULL ELSE'
        ' LEAST(p50_ms_lo + 1, n - 1) END + 1] - v[p50_ms_lo + 1]) * p50_ms_f END'
        ' AS p50_ms, CASE WHEN p95_ms_f = 0 THEN v[p95_ms_lo + 1] ELSE v[p95_ms_l'
        'o + 1] + (v[CASE WHEN (p95_ms_lo + 1) IS NULL OR (n - 1) IS NULL THEN NU'
        'LL ELSE LEAST(p95_ms_lo + 1, n - 1) END + 1] - v[p95_ms_lo + 1]) * p95_m'
        's_f END AS p95_ms, CASE WHEN p99_ms_f = 0 THEN v[p99_ms_lo + 1] ELSE v[p'
        '99_ms_lo + 1] + (v[CASE WHEN (p99_ms_lo + 1) IS NULL OR (n - 1) IS NULL '
        'THEN NULL ELSE LEAST(p99_ms_lo + 1, n - 1) END + 1] - v[p99_ms_lo + 1]) '
        '* p99_ms_f END AS p99_ms FROM (SELECT *, CAST(FLOOR(CAST(0.5 AS DOUBLE) '
        '* CAST(n - 1 AS DOUBLE)) AS BIGINT) AS p50_ms_lo, CAST(0.5 AS DOUBLE) * '
        'CAST(n - 1 AS DOUBLE) - FLOOR(CAST(0.5 AS DOUBLE) * CAST(n - 1 AS DOUBLE'
        ')) AS p50_ms_f, CAST(FLOOR(CAST(0.95 AS DOUBLE) * CAST(n - 1 AS DOUBLE))'
        ' AS BIGINT) AS p95_ms_lo, CAST(0.95 AS DOUBLE) * CAST(n - 1 AS DOUBLE) -'
        ' FLOOR(CAST(0.95 AS DOUBLE) * CAST(n - 1 AS DOUBLE)) AS p95_ms_f, CAST(F'
        'LOOR(CAST(0.99 AS DOUBLE) * CAST(n - 1 AS DOUBLE)) AS BIGINT) AS p99_ms_'
        'lo, CAST(0.99 AS DOUBLE) * CAST(n - 1 AS DOUBLE) - FLOOR(CAST(0.99 AS DO'
        'UBLE) * CAST(n - 1 AS DOUBLE)) AS p99_ms_f FROM (SELECT task_name, ARRAY'
        '_AGG(ms ORDER BY ms NULLS FIRST) AS v, COUNT(*) AS n FROM runs GROUP BY '
        '1))), run_agg AS (/* the sum in BIGNUMERIC: exact and the same on every '
        "run (a FLOAT64 sum depends on the */ /* order BigQuery's workers add in)"
        "; the caller divides, as pandas' mean does */ SELECT task_name, COUNT(*)"
        ' AS count, MAX(ms) AS max_ms, CAST(SUM(CAST(ms AS DECIMAL(38, 5))) AS DO'
        'UBLE) AS ms_sum, MIN(ok) AS run_order FROM runs GROUP BY 1), wait_pct AS'
        " (/* the order statistics from each name's sorted values */ SELECT task_"
        'name, CASE WHEN wait_p50_ms_f = 0 THEN v[wait_p50_ms_lo + 1] ELSE v[wait'
        '_p50_ms_lo + 1] + (v[CASE WHEN (wait_p50_ms_lo + 1) IS NULL OR (n - 1) I'
        'S NULL THEN NULL ELSE LEAST(wait_p50_ms_lo + 1, n - 1) END + 1] - v[wait'
        '_p50_ms_lo + 1]) * wait_p50_ms_f END AS wait_p50_ms, CASE WHEN wait_p95_'
        'ms_f = 0 THEN v[wait_p95_ms_lo + 1] ELSE v[wait_p95_ms_lo + 1] + (v[CASE'
        ' WHEN (wait_p95_ms_lo + 1) IS NULL OR (n - 1) IS NULL THEN NULL ELSE LEA'
        'ST(wait_p95_ms_lo + 1, n - 1) END + 1] - v[wait_p95_ms_lo + 1]) * wait_p'
        '95_ms_f END AS wait_p95_ms FROM (SELECT *, CAST(FLOOR(CAST(0.5 AS DOUBLE'
        ') * CAST(n - 1 AS DOUBLE)) AS BIGINT) AS wait_p50_ms_lo, CAST(0.5 AS DOU'
        'BLE) * CAST(n - 1 AS DOUBLE) - FLOOR(CAST(0.5 AS DOUBLE) * CAST(n - 1 AS'
        ' DOUBLE)) AS wait_p50_ms_f, CAST(FLOOR(CAST(0.95 AS DOUBLE) * CAST(n - 1'
        ' AS DOUBLE)) AS BIGINT) AS wait_p95_ms_lo, CAST(0.95 AS DOUBLE) * CAST(n'
        ' - 1 AS DOUBLE) - FLOOR(CAST(0.95 AS DOUBLE) * CAST(n - 1 AS DOUBLE)) AS'
        ' wait_p95_ms_f FROM (SELECT task_name, ARRAY_AGG(ms ORDER BY ms NULLS FI'
        'RST) AS v, COUNT(*) AS n FROM waits GROUP BY 1))), wait_agg AS (SELECT t'
        'ask_name, COUNT(*) AS waits, MAX(ms) AS wait_max_ms, MIN(ok) AS wait_ord'
        'er FROM waits GROUP BY 1), names AS (SELECT task_name FROM run_agg UNION'
        ' SELECT task_name FROM wait_agg) SELECT names.task_name, run_agg.count, '
        'run_pct.p50_ms, run_pct.p95_ms, run_pct.p99_ms, run_agg.max_ms, run_agg.'
        'ms_sum, run_agg.run_order, wait_agg.waits, wait_pct.wait_p50_ms, wait_pc'
        't.wait_p95_ms, wait_agg.wait_max_ms, wait_agg.wait_order FROM names LEFT'
        ' JOIN run_pct ON run_pct.task_name = names.task_name LEFT JOIN run_agg O'
        'N run_agg.task_name = names.task_name LEFT JOIN wait_pct ON wait_pct.tas'
        'k_name = names.task_name LEFT JOIN wait_agg ON wait_agg.task_name = name'
        's.task_name'
    )),
    'over_time': ('7e75d1ec64a720a7', (
        'WITH base AS NOT MATERIALIZED (SELECT timestamp AS time, order_key AS ok'
        ', NOT json_payload IS NULL AS has_json, text_payload, event AS event, ta'
        'sk_id AS task_id, task_name AS task_name, organization_id AS organizatio'
        'n_id, user_id AS user_id, CAST(retries AS TEXT) AS retries_text, CAST(re'
        'tries AS DOUBLE) AS retries, exception_type AS exception_type, exception'
        '_message AS exception_message, CAST(duration_ms AS DOUBLE) AS duration_m'
        's, CAST(queue_wait_ms AS DOUBLE) AS queue_wait_ms, group_id AS group_id,'
        ' chord_id AS chord_id, chord_callback_id AS chord_callback_id, chord_cal'
        'lback_name AS chord_callback_name, CAST(chord_size AS DOUBLE) AS chord_s'
        'ize, CAST(members_expected AS DOUBLE) AS members_expected, message AS me'
        "ssage, worker AS worker, reason AS reason, CAST(redelivered AS TEXT) = '"
        "true' AS redelivered, JSON_VALUE(resource.labels, '$.pod_name') ->> '$' "
        'AS pod FROM rhesis_logs WHERE __rhesis_where__), entries AS NOT MATERIAL'
        'IZED (SELECT * FROM base WHERE __rhesis_filters__) SELECT EPOCH_US(time)'
        " // __rhesis_bucket_us__ AS bucket_no, COUNT_IF(event = 'task_received')"
        " AS received, COUNT_IF(event = 'task_succeeded') AS succeeded, COUNT_IF("
        "event = 'task_failed') AS failed, COUNT_IF(event = 'task_retried') AS re"
        "tried FROM entries WHERE event IN ('task_received', 'task_succeeded', 't"
        "ask_failed', 'task_retried') AND NOT time IS NULL GROUP BY 1"
    )),
}
