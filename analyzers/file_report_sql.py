"""The report's queries in DuckDB's dialect: ``python -m analyzers.file_report``.

Generated: do not edit. (digest of the GoogleSQL, DuckDB SQL) per query; see
``analyzers.file_report``.
"""

QUERIES: dict[str, tuple[str, str]] = {
    'overview': ('42a8d675f6ea3fe2', (
        'WITH base AS (SELECT timestamp AS time, LPAD(CAST(EPOCH_US(timestamp) AS'
        " TEXT), 20, '0') || '|' || COALESCE(insert_id, '') AS ok, NOT json_paylo"
        'ad IS NULL AS has_json, text_payload, event AS event, task_id AS task_id'
        ', task_name AS task_name, organization_id AS organization_id, user_id AS'
        ' user_id, CAST(retries AS TEXT) AS retries_text, CAST(retries AS DOUBLE)'
        ' AS retries, exception_type AS exception_type, exception_message AS exce'
        'ption_message, CAST(duration_ms AS DOUBLE) AS duration_ms, CAST(queue_wa'
        'it_ms AS DOUBLE) AS queue_wait_ms, group_id AS group_id, chord_id AS cho'
        'rd_id, chord_callback_id AS chord_callback_id, chord_callback_name AS ch'
        'ord_callback_name, CAST(chord_size AS DOUBLE) AS chord_size, CAST(member'
        's_expected AS DOUBLE) AS members_expected, message AS message, worker AS'
        " worker, reason AS reason, CAST(redelivered AS TEXT) = 'true' AS redeliv"
        "ered, JSON_VALUE(resource.labels, '$.pod_name') ->> '$' AS pod FROM rhes"
        'is_logs WHERE __rhesis_where__), entries AS (SELECT * FROM base WHERE __'
        'rhesis_filters__), lines AS (SELECT COUNT(*) AS records, COUNT_IF(NOT ha'
        's_json AND text_payload IS NULL) AS no_payload, COUNT_IF(NOT has_json AN'
        'D NOT text_payload IS NULL) AS text_entries, COUNT_IF(NOT has_json AND R'
        "EGEXP_MATCHES(text_payload, '(?:\\] Task \\S+\\[\\S+\\] (received|succeeded i"
        "n|retry:|raised|INTERNAL ERROR))|(?:(Chord ''\\S+'' raised|time limit \\(|"
        'Task handler raised error|Connection to broker lost|missed heartbeat fro'
        "m|Discarding revoked task|Received unregistered task| ready\\.$))')) AS t"
        "ext_events FROM base), tasks AS (SELECT COUNT_IF(event = 'task_received'"
        ") AS received, COUNT_IF(event = 'task_started') AS started, COUNT_IF(eve"
        "nt = 'task_succeeded') AS succeeded, COUNT_IF(event = 'task_retried') AS"
        " retried, COUNT_IF(event = 'task_revoked') AS revoked, COUNT_IF(event = "
        "'task_rejected') AS rejected, COUNT(DISTINCT CASE WHEN event IN ('task_f"
        "ailed', 'task_internal_error', 'task_published', 'task_received', 'task_"
        "rejected', 'task_retried', 'task_revoked', 'task_started', 'task_succeed"
        "ed', 'task_unknown') THEN task_id ELSE NULL END) AS task_ids, COUNT(DIST"
        'INCT organization_id) AS tenants, COUNT(*) AS view_rows, MIN(time) AS fi'
        "rst_seen, MAX(time) AS last_seen, MIN(CASE WHEN event IN ('task_received"
        "', 'task_succeeded', 'task_failed', 'task_retried') THEN time ELSE NULL "
        "END) AS series_first, MAX(CASE WHEN event IN ('task_received', 'task_suc"
        "ceeded', 'task_failed', 'task_retried') THEN time ELSE NULL END) AS seri"
        'es_last FROM entries), failed AS (/* attempts, not lines: one per task i'
        'd and retry number */ SELECT COUNT(DISTINCT CASE WHEN task_id IS NULL TH'
        "EN NULL ELSE task_id || '|' || COALESCE(retries_text, '-') END) + COUNT_"
        "IF(task_id IS NULL) AS failed FROM entries WHERE event = 'task_failed') "
        'SELECT * FROM lines CROSS JOIN tasks CROSS JOIN failed'
    )),
    'failures': ('7d6616aced25d780', (
        'WITH base AS (SELECT timestamp AS time, LPAD(CAST(EPOCH_US(timestamp) AS'
        " TEXT), 20, '0') || '|' || COALESCE(insert_id, '') AS ok, NOT json_paylo"
        'ad IS NULL AS has_json, text_payload, event AS event, task_id AS task_id'
        ', task_name AS task_name, organization_id AS organization_id, user_id AS'
        ' user_id, CAST(retries AS TEXT) AS retries_text, CAST(retries AS DOUBLE)'
        ' AS retries, exception_type AS exception_type, exception_message AS exce'
        'ption_message, CAST(duration_ms AS DOUBLE) AS duration_ms, CAST(queue_wa'
        'it_ms AS DOUBLE) AS queue_wait_ms, group_id AS group_id, chord_id AS cho'
        'rd_id, chord_callback_id AS chord_callback_id, chord_callback_name AS ch'
        'ord_callback_name, CAST(chord_size AS DOUBLE) AS chord_size, CAST(member'
        's_expected AS DOUBLE) AS members_expected, message AS message, worker AS'
        " worker, reason AS reason, CAST(redelivered AS TEXT) = 'true' AS redeliv"
        "ered, JSON_VALUE(resource.labels, '$.pod_name') ->> '$' AS pod FROM rhes"
        'is_logs WHERE __rhesis_where__), entries AS (SELECT * FROM base WHERE __'
        "rhesis_filters__), lines AS (SELECT time, ok, COALESCE(task_name, '<unkn"
        "own>') AS task_name, COALESCE(exception_type, '<unknown>') AS exception_"
        'type, task_id, organization_id, exception_message, ROW_NUMBER() OVER (PA'
        'RTITION BY task_id, retries_text ORDER BY ok NULLS FIRST) AS nth FROM en'
        "tries WHERE event IN ('task_failed', 'task_internal_error')), picked AS "
        '(/* a time limit is logged by the pool and by the worker: one failure pe'
        'r attempt */ SELECT *, SUBSTRING(TRIM(REGEXP_REPLACE(REGEXP_REPLACE(REGE'
        'XP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE(COALESCE(excepti'
        "on_message, ''), '(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0"
        "-9a-f]{12}', '<id>', 'g'), '(?i)\\b0x[0-9a-f]+\\b', '<hex>', 'g'), '(?i)\\b"
        "[0-9a-f]*[0-9][0-9a-f]*[a-f][0-9a-f]*\\b', '<hex>', 'g'), '(?i)\\b[0-9a-f]"
        "*[a-f][0-9a-f]*[0-9][0-9a-f]*\\b', '<hex>', 'g'), '\\d+(?:\\.\\d+)?', '<n>',"
        " 'g'), '\\s+', ' ', 'g')), 1, 200) AS fingerprint FROM lines WHERE task_i"
        'd IS NULL OR nth = 1), top AS (SELECT task_name, exception_type, fingerp'
        "rint, LISTAGG(v, ', ' ORDER BY v NULLS FIRST) AS top, ANY_VALUE(n) AS di"
        'stinct_values FROM (SELECT task_name, exception_type, fingerprint, v, RO'
        'W_NUMBER() OVER (PARTITION BY task_name, exception_type, fingerprint ORD'
        'ER BY v NULLS FIRST) AS r, COUNT(*) OVER (PARTITION BY task_name, except'
        'ion_type, fingerprint) AS n FROM (SELECT DISTINCT task_name, exception_t'
        'ype, fingerprint, CAST(organization_id AS TEXT) AS v FROM picked WHERE N'
        'OT organization_id IS NULL)) WHERE r <= 5 GROUP BY task_name, exception_'
        'type, fingerprint) SELECT g.task_name, g.exception_type, g.fingerprint, '
        'g.count, g.tenants, t.top AS tenant_ids, t.distinct_values AS tenant_cou'
        'nt, g.first_seen, g.last_seen, g.example_task_id, g.example_message, g._'
        'order FROM (SELECT task_name, exception_type, fingerprint, COUNT(*) AS c'
        'ount, COUNT(DISTINCT organization_id) AS tenants, MIN(time) AS first_see'
        'n, MAX(time) AS last_seen, ARG_MIN(task_id, CASE WHEN task_id IS NULL TH'
        "EN '~' ELSE ok END) AS example_task_id, ARG_MIN(exception_message, CASE "
        "WHEN exception_message IS NULL THEN '~' ELSE ok END) AS example_message,"
        ' MIN(ok) AS _order FROM picked GROUP BY task_name, exception_type, finge'
        'rprint) AS g LEFT JOIN top AS t ON t.task_name = g.task_name AND t.excep'
        'tion_type = g.exception_type AND t.fingerprint = g.fingerprint'
    )),
    'retries': ('35570c45ce829f01', (
        'WITH base AS (SELECT timestamp AS time, LPAD(CAST(EPOCH_US(timestamp) AS'
        " TEXT), 20, '0') || '|' || COALESCE(insert_id, '') AS ok, NOT json_paylo"
        'ad IS NULL AS has_json, text_payload, event AS event, task_id AS task_id'
        ', task_name AS task_name, organization_id AS organization_id, user_id AS'
        ' user_id, CAST(retries AS TEXT) AS retries_text, CAST(retries AS DOUBLE)'
        ' AS retries, exception_type AS exception_type, exception_message AS exce'
        'ption_message, CAST(duration_ms AS DOUBLE) AS duration_ms, CAST(queue_wa'
        'it_ms AS DOUBLE) AS queue_wait_ms, group_id AS group_id, chord_id AS cho'
        'rd_id, chord_callback_id AS chord_callback_id, chord_callback_name AS ch'
        'ord_callback_name, CAST(chord_size AS DOUBLE) AS chord_size, CAST(member'
        's_expected AS DOUBLE) AS members_expected, message AS message, worker AS'
        " worker, reason AS reason, CAST(redelivered AS TEXT) = 'true' AS redeliv"
        "ered, JSON_VALUE(resource.labels, '$.pod_name') ->> '$' AS pod FROM rhes"
        'is_logs WHERE __rhesis_where__), entries AS (SELECT * FROM base WHERE __'
        "rhesis_filters__), picked AS (SELECT time, ok, COALESCE(task_name, '<unk"
        "nown>') AS task_name, COALESCE(exception_type, '<unknown>') AS exception"
        '_type, task_id, organization_id, exception_message, retries FROM entries'
        " WHERE event = 'task_retried'), top AS (SELECT task_name, exception_type"
        ", LISTAGG(v, ', ' ORDER BY v NULLS FIRST) AS top, ANY_VALUE(n) AS distin"
        'ct_values FROM (SELECT task_name, exception_type, v, ROW_NUMBER() OVER ('
        'PARTITION BY task_name, exception_type ORDER BY v NULLS FIRST) AS r, COU'
        'NT(*) OVER (PARTITION BY task_name, exception_type) AS n FROM (SELECT DI'
        'STINCT task_name, exception_type, CAST(organization_id AS TEXT) AS v FRO'
        'M picked WHERE NOT organization_id IS NULL)) WHERE r <= 5 GROUP BY task_'
        'name, exception_type) SELECT g.*, t.top AS tenant_ids, t.distinct_values'
        ' AS tenant_count FROM (SELECT task_name, exception_type, COUNT(*) AS cou'
        'nt, COUNT(DISTINCT task_id) AS task_ids, CAST(MAX(retries) AS BIGINT) /*'
        ' the retries field counts the retries before this one: the n-th retry lo'
        'gs n-1 */ + 1 AS max_retries, COUNT(DISTINCT organization_id) AS tenants'
        ', MIN(time) AS first_seen, MAX(time) AS last_seen, ARG_MIN(task_id, CASE'
        " WHEN task_id IS NULL THEN '~' ELSE ok END) AS example_task_id, ARG_MIN("
        "exception_message, CASE WHEN exception_message IS NULL THEN '~' ELSE ok "
        'END) AS example_message, MIN(ok) AS _order FROM picked GROUP BY task_nam'
        'e, exception_type) AS g LEFT JOIN top AS t ON t.task_name = g.task_name '
        'AND t.exception_type = g.exception_type'
    )),
    'retry_id_storms': ('bd66c531cd8b5063', (
        'WITH base AS (SELECT timestamp AS time, LPAD(CAST(EPOCH_US(timestamp) AS'
        " TEXT), 20, '0') || '|' || COALESCE(insert_id, '') AS ok, NOT json_paylo"
        'ad IS NULL AS has_json, text_payload, event AS event, task_id AS task_id'
        ', task_name AS task_name, organization_id AS organization_id, user_id AS'
        ' user_id, CAST(retries AS TEXT) AS retries_text, CAST(retries AS DOUBLE)'
        ' AS retries, exception_type AS exception_type, exception_message AS exce'
        'ption_message, CAST(duration_ms AS DOUBLE) AS duration_ms, CAST(queue_wa'
        'it_ms AS DOUBLE) AS queue_wait_ms, group_id AS group_id, chord_id AS cho'
        'rd_id, chord_callback_id AS chord_callback_id, chord_callback_name AS ch'
        'ord_callback_name, CAST(chord_size AS DOUBLE) AS chord_size, CAST(member'
        's_expected AS DOUBLE) AS members_expected, message AS message, worker AS'
        " worker, reason AS reason, CAST(redelivered AS TEXT) = 'true' AS redeliv"
        "ered, JSON_VALUE(resource.labels, '$.pod_name') ->> '$' AS pod FROM rhes"
        'is_logs WHERE __rhesis_where__), entries AS (SELECT * FROM base WHERE __'
        "rhesis_filters__), pairs AS (SELECT COALESCE(task_name, '<unknown>') AS "
        'task_name, task_id, COUNT(*) AS count, ARG_MIN(organization_id, CASE WHE'
        "N organization_id IS NULL THEN '~' ELSE ok END) AS organization_id, MIN("
        'time) AS first_seen, MAX(time) AS last_seen, MIN(ok) AS _order FROM entr'
        "ies WHERE event = 'task_retried' AND NOT task_id IS NULL GROUP BY 1, 2),"
        ' normed AS (SELECT *, QUANTILE_CONT(count, 0.5) OVER (PARTITION BY task_'
        'name) AS median, COUNT(*) OVER (PARTITION BY task_name) AS siblings, SUM'
        '(count) OVER (PARTITION BY task_name) AS total FROM pairs), judged AS (S'
        'ELECT *, CASE WHEN CASE WHEN siblings <= 1 THEN 1.0 WHEN siblings = 2 TH'
        'EN CAST(total - count AS DOUBLE) ELSE median END IS NULL OR 1.0 IS NULL '
        'THEN NULL ELSE GREATEST(CASE WHEN siblings <= 1 THEN 1.0 WHEN siblings ='
        ' 2 THEN CAST(total - count AS DOUBLE) ELSE median END, 1.0) END AS norm '
        'FROM normed) SELECT task_name, task_id, count, norm, count / norm AS rat'
        'io, organization_id, first_seen, last_seen, _order FROM judged WHERE cou'
        'nt >= __rhesis_min_retries__ AND count / norm >= __rhesis_factor__'
    )),
    'retry_buckets': ('7e78eb199521e0bc', (
        'WITH base AS (SELECT timestamp AS time, LPAD(CAST(EPOCH_US(timestamp) AS'
        " TEXT), 20, '0') || '|' || COALESCE(insert_id, '') AS ok, NOT json_paylo"
        'ad IS NULL AS has_json, text_payload, event AS event, task_id AS task_id'
        ', task_name AS task_name, organization_id AS organization_id, user_id AS'
        ' user_id, CAST(retries AS TEXT) AS retries_text, CAST(retries AS DOUBLE)'
        ' AS retries, exception_type AS exception_type, exception_message AS exce'
        'ption_message, CAST(duration_ms AS DOUBLE) AS duration_ms, CAST(queue_wa'
        'it_ms AS DOUBLE) AS queue_wait_ms, group_id AS group_id, chord_id AS cho'
        'rd_id, chord_callback_id AS chord_callback_id, chord_callback_name AS ch'
        'ord_callback_name, CAST(chord_size AS DOUBLE) AS chord_size, CAST(member'
        's_expected AS DOUBLE) AS members_expected, message AS message, worker AS'
        " worker, reason AS reason, CAST(redelivered AS TEXT) = 'true' AS redeliv"
        "ered, JSON_VALUE(resource.labels, '$.pod_name') ->> '$' AS pod FROM rhes"
        'is_logs WHERE __rhesis_where__), entries AS (SELECT * FROM base WHERE __'
        "rhesis_filters__) SELECT COALESCE(task_name, '<unknown>') AS task_name, "
        'EPOCH_US(time) // __rhesis_bucket_us__ AS bucket_no, COUNT(*) AS count, '
        "ARG_MIN(organization_id, CASE WHEN organization_id IS NULL THEN '~' ELSE"
        ' ok END) AS organization_id, MIN(time) AS first_seen, MAX(time) AS last_'
        "seen, MIN(ok) AS _order FROM entries WHERE event = 'task_retried' AND NO"
        'T time IS NULL GROUP BY 1, 2'
    )),
    'retry_outcomes': ('84a028dcb7bf1045', (
        'WITH base AS (SELECT timestamp AS time, LPAD(CAST(EPOCH_US(timestamp) AS'
        " TEXT), 20, '0') || '|' || COALESCE(insert_id, '') AS ok, NOT json_paylo"
        'ad IS NULL AS has_json, text_payload, event AS event, task_id AS task_id'
        ', task_name AS task_name, organization_id AS organization_id, user_id AS'
        ' user_id, CAST(retries AS TEXT) AS retries_text, CAST(retries AS DOUBLE)'
        ' AS retries, exception_type AS exception_type, exception_message AS exce'
        'ption_message, CAST(duration_ms AS DOUBLE) AS duration_ms, CAST(queue_wa'
        'it_ms AS DOUBLE) AS queue_wait_ms, group_id AS group_id, chord_id AS cho'
        'rd_id, chord_callback_id AS chord_callback_id, chord_callback_name AS ch'
        'ord_callback_name, CAST(chord_size AS DOUBLE) AS chord_size, CAST(member'
        's_expected AS DOUBLE) AS members_expected, message AS message, worker AS'
        " worker, reason AS reason, CAST(redelivered AS TEXT) = 'true' AS redeliv"
        "ered, JSON_VALUE(resource.labels, '$.pod_name') ->> '$' AS pod FROM rhes"
        'is_logs WHERE __rhesis_where__), entries AS (SELECT * FROM base WHERE __'
        "rhesis_filters__), retried AS (/* an id's task name is the one on its fi"
        "rst retry line */ SELECT task_id, ARG_MIN(COALESCE(task_name, '<unknown>"
        "'), ok) AS task_name FROM entries WHERE event = 'task_retried' AND NOT t"
        'ask_id IS NULL GROUP BY 1), ends AS (SELECT task_id, BOOL_OR(CAST(event '
        "= 'task_succeeded' AS BOOLEAN)) AS ok, BOOL_OR(CAST(event IN ('task_fail"
        "ed', 'task_internal_error') AS BOOLEAN)) AS bad FROM entries WHERE event"
        " IN ('task_succeeded', 'task_failed', 'task_internal_error') AND task_id"
        ' IN (SELECT task_id FROM retried) GROUP BY 1) SELECT r.task_name, COUNT('
        '*) AS retried_ids, COUNT_IF(COALESCE(x.ok, FALSE)) AS recovered, COUNT_I'
        'F(NOT COALESCE(x.ok, FALSE) AND COALESCE(x.bad, FALSE)) AS exhausted, CO'
        'UNT_IF(NOT COALESCE(x.ok, FALSE) AND NOT COALESCE(x.bad, FALSE)) AS pend'
        'ing FROM retried AS r LEFT JOIN ends AS x ON x.task_id = r.task_id GROUP'
        ' BY 1'
    )),
    'chords': ('23a9722748b223f5', (
        'WITH base AS (SELECT timestamp AS time, LPAD(CAST(EPOCH_US(timestamp) AS'
        " TEXT), 20, '0') || '|' || COALESCE(insert_id, '') AS ok, NOT json_paylo"
        'ad IS NULL AS has_json, text_payload, event AS event, task_id AS task_id'
        ', task_name AS task_name, organization_id AS organization_id, user_id AS'
        ' user_id, CAST(retries AS TEXT) AS retries_text, CAST(retries AS DOUBLE)'
        ' AS retries, exception_type AS exception_type, exception_message AS exce'
        'ption_message, CAST(duration_ms AS DOUBLE) AS duration_ms, CAST(queue_wa'
        'it_ms AS DOUBLE) AS queue_wait_ms, group_id AS group_id, chord_id AS cho'
        'rd_id, chord_callback_id AS chord_callback_id, chord_callback_name AS ch'
        'ord_callback_name, CAST(chord_size AS DOUBLE) AS chord_size, CAST(member'
        's_expected AS DOUBLE) AS members_expected, message AS message, worker AS'
        " worker, reason AS reason, CAST(redelivered AS TEXT) = 'true' AS redeliv"
        "ered, JSON_VALUE(resource.labels, '$.pod_name') ->> '$' AS pod FROM rhes"
        'is_logs WHERE __rhesis_where__), entries AS (SELECT * FROM base WHERE __'
        "rhesis_filters__), members AS (/* the callback's own lines carry the cho"
        "rd's group and callback id too: not a member */ SELECT group_id AS chord"
        '_id, task_id, time, ok, chord_callback_id, chord_callback_name, chord_si'
        "ze, organization_id, event IN ('task_succeeded', 'task_failed', 'task_re"
        "voked') AS finished, event IN ('task_failed', 'task_revoked') AS failed "
        'FROM entries WHERE NOT group_id IS NULL AND (NOT chord_callback_id IS NU'
        "LL OR NOT chord_size IS NULL) AND event IN ('task_failed', 'task_interna"
        "l_error', 'task_published', 'task_received', 'task_rejected', 'task_retr"
        "ied', 'task_revoked', 'task_started', 'task_succeeded', 'task_unknown') "
        'AND NOT COALESCE(task_id = chord_callback_id, FALSE)), member_agg AS (SE'
        'LECT chord_id, ARG_MIN(chord_callback_id, CASE WHEN chord_callback_id IS'
        " NULL THEN '~' ELSE ok END) AS callback_id, ARG_MIN(chord_callback_name,"
        " CASE WHEN chord_callback_name IS NULL THEN '~' ELSE ok END) AS callback"
        "_name, ARG_MIN(organization_id, CASE WHEN organization_id IS NULL THEN '"
        "~' ELSE ok END) AS org, MAX(chord_size) AS expected, MIN(time) AS first_"
        'seen, MAX(time) AS last_activity, COUNT(DISTINCT task_id) AS members_pub'
        'lished, COUNT(DISTINCT CASE WHEN finished THEN task_id ELSE NULL END) AS'
        ' members_finished, COUNT(DISTINCT CASE WHEN failed THEN task_id ELSE NUL'
        'L END) AS members_failed, MIN(ok) AS _order FROM members GROUP BY 1), ch'
        'ord_lines AS (SELECT COALESCE(chord_id, group_id, ARRAY_EXTRACT(REGEXP_E'
        "XTRACT_ALL(message, 'Chord(?: callback)? ''([^'']+)'' raised', 1), 1)) A"
        'S chord_id, event, time, ok, chord_callback_id, chord_callback_name, org'
        "anization_id, members_expected FROM entries WHERE event IN ('chord_clean"
        "ed', 'chord_recovered', 'chord_revoked', 'chord_stuck', 'chord_error')),"
        ' event_agg AS (SELECT chord_id, ARG_MIN(chord_callback_id, CASE WHEN cho'
        "rd_callback_id IS NULL THEN '~' ELSE ok END) AS callback_id, ARG_MIN(cho"
        "rd_callback_name, CASE WHEN chord_callback_name IS NULL THEN '~' ELSE ok"
        ' END) AS callback_name, ARG_MIN(organization_id, CASE WHEN organization_'
        "id IS NULL THEN '~' ELSE ok END) AS org, MAX(members_expected) AS expect"
        'ed, MIN(time) AS first_seen, MAX(time) AS last_activity, ARG_MAX(event, '
        "ok) AS last_event, BOOL_OR(CAST(event = 'chord_error' AS BOOLEAN)) AS ch"
        'ord_error FROM chord_lines WHERE NOT chord_id IS NULL GROUP BY 1), joine'
        'd AS (SELECT COALESCE(m.chord_id, e.chord_id) AS chord_id, m.callback_id'
        ' AS m_callback_id, m.callback_name AS m_callback_name, m.org AS m_org, m'
        '.expected AS m_expected, m.first_seen AS m_first_seen, m.last_activity A'
        'S m_last_activity, m.members_published, m.members_finished, m.members_fa'
        'iled, m._order, e.callback_id AS e_callback_id, e.callback_name AS e_cal'
        'lback_name, e.org AS e_org, e.expected AS e_expected, e.first_seen AS e_'
        'first_seen, e.last_activity AS e_last_activity, e.last_event AS e_last_e'
        'vent, e.chord_error AS e_chord_error, COALESCE(m.callback_id, e.callback'
        '_id) AS callback_id FROM member_agg AS m FULL OUTER JOIN event_agg AS e '
        'ON e.chord_id = m.chord_id), callback_lines AS (SELECT task_id, MAX(time'
        ") AS cb_last, BOOL_OR(CAST(event IN ('task_received', 'task_started', 't"
        "ask_succeeded', 'task_failed', 'task_retried') AS BOOLEAN)) AS cb_seen F"
        'ROM entries WHERE task_id IN (SELECT callback_id FROM joined) GROUP BY 1'
        ') SELECT j.*, cb.cb_last, COALESCE(cb.cb_seen, FALSE) AS cb_seen, (SELEC'
        'T COUNT(*) FROM event_agg) AS n_event_chords FROM joined AS j LEFT JOIN '
        'callback_lines AS cb ON cb.task_id = j.callback_id'
    )),
    'duplicates': ('1797c11bc598c368', (
        'WITH base AS (SELECT timestamp AS time, LPAD(CAST(EPOCH_US(timestamp) AS'
        " TEXT), 20, '0') || '|' || COALESCE(insert_id, '') AS ok, NOT json_paylo"
        'ad IS NULL AS has_json, text_payload, event AS event, task_id AS task_id'
        ', task_name AS task_name, organization_id AS organization_id, user_id AS'
        ' user_id, CAST(retries AS TEXT) AS retries_text, CAST(retries AS DOUBLE)'
        ' AS retries, exception_type AS exception_type, exception_message AS exce'
        'ption_message, CAST(duration_ms AS DOUBLE) AS duration_ms, CAST(queue_wa'
        'it_ms AS DOUBLE) AS queue_wait_ms, group_id AS group_id, chord_id AS cho'
        'rd_id, chord_callback_id AS chord_callback_id, chord_callback_name AS ch'
        'ord_callback_name, CAST(chord_size AS DOUBLE) AS chord_size, CAST(member'
        's_expected AS DOUBLE) AS members_expected, message AS message, worker AS'
        " worker, reason AS reason, CAST(redelivered AS TEXT) = 'true' AS redeliv"
        "ered, JSON_VALUE(resource.labels, '$.pod_name') ->> '$' AS pod FROM rhes"
        'is_logs WHERE __rhesis_where__), entries AS (SELECT * FROM base WHERE __'
        "rhesis_filters__), lost_lines AS (SELECT CASE WHEN event IN ('task_faile"
        "d', 'task_internal_error') AND REGEXP_MATCHES(COALESCE(exception_type, '"
        "'), 'TimeLimitExceeded$') AND NOT REGEXP_MATCHES(COALESCE(exception_type"
        ", ''), '[Ss]oftTimeLimitExceeded$') THEN 'time_limit' WHEN event IN ('ta"
        "sk_failed', 'task_internal_error') AND REGEXP_MATCHES(COALESCE(exception"
        "_type, ''), 'WorkerLostError$') THEN 'worker_lost' WHEN event = 'worker_"
        "lost' THEN 'worker_lost' WHEN event = 'time_limit_exceeded' THEN 'time_l"
        "imit' WHEN event = 'broker_connection_lost' THEN 'broker_connection_lost"
        "' END AS kind, COALESCE(worker, pod, '<unknown>') AS worker, time, ok, C"
        "OALESCE(task_id, ARRAY_EXTRACT(REGEXP_EXTRACT_ALL(message, '[\\w.:-]+\\[(["
        '0-9a-fA-F-]{8,})\\]\', 1), 1)) AS task_id /* Celery\'s "Hard time limit (1s'
        ') exceeded for tasks.x[<id>]" names the task in its text */, COALESCE(ta'
        "sk_name, ARRAY_EXTRACT(REGEXP_EXTRACT_ALL(message, '([\\w.:-]+)\\[[0-9a-fA"
        "-F-]{8,}\\]', 1), 1)) AS task_name, COALESCE(exception_message, reason, m"
        "essage) AS example_message FROM entries WHERE event IN ('task_failed', '"
        "task_internal_error', 'worker_lost', 'time_limit_exceeded', 'broker_conn"
        "ection_lost')), lost AS (/* a worker may log a lost task twice (the pool"
        "'s error and the task's failure); ties in */ /* time put the lines with "
        'a task id first */ SELECT *, SUBSTRING(ok, 1, 20) || CASE WHEN task_id I'
        "S NULL THEN '1' ELSE '0' END || ok AS lost_order FROM (SELECT *, ROW_NUM"
        'BER() OVER (PARTITION BY kind, task_id ORDER BY ok NULLS FIRST) AS nth F'
        'ROM lost_lines WHERE NOT kind IS NULL) WHERE task_id IS NULL OR nth = 1)'
        ", counts AS (SELECT task_id, COUNT_IF(event = 'task_received') AS receiv"
        "ed, COUNT_IF(event = 'task_started') AS started, COUNT_IF(event = 'task_"
        "succeeded') AS succeeded, COUNT_IF(event = 'task_retried') AS retried FR"
        "OM entries WHERE NOT task_id IS NULL AND event IN ('task_received', 'tas"
        "k_started', 'task_succeeded', 'task_retried') GROUP BY 1), dup AS (SELEC"
        'T * FROM counts WHERE received > retried + 1 OR started > retried + 1 OR'
        ' succeeded > 1), lines AS (SELECT e.* FROM entries AS e JOIN dup AS d ON'
        " d.task_id = e.task_id WHERE e.event IN ('task_received', 'task_started'"
        ", 'task_succeeded', 'task_retried')), gaps AS (/* the longest gap betwee"
        'n two consecutive receptions of the id */ SELECT task_id, MAX(DATE_DIFF('
        "'MICROSECOND', previous, time)) / 1e6 AS gap_s FROM (SELECT task_id, tim"
        'e, LAG(time) OVER (PARTITION BY task_id ORDER BY time NULLS FIRST) AS pr'
        "evious FROM lines WHERE event = 'task_received' AND NOT time IS NULL) GR"
        'OUP BY 1), per_id AS (SELECT task_id, ARG_MIN(task_name, CASE WHEN task_'
        "name IS NULL THEN '~' ELSE ok END) AS task_name, COUNT(DISTINCT COALESCE"
        '(worker, pod)) AS workers, ARG_MIN(organization_id, CASE WHEN organizati'
        "on_id IS NULL THEN '~' ELSE ok END) AS organization_id, MIN(time) AS fir"
        'st_seen, MAX(time) AS last_seen, BOOL_OR(CAST(COALESCE(redelivered, FALS'
        'E) AS BOOLEAN)) AS redelivered, MIN(ok) AS _order FROM lines GROUP BY 1)'
        ' SELECT p.*, d.received, d.started, d.succeeded, d.retried, g.gap_s, p.t'
        'ask_id IN (SELECT task_id FROM lost WHERE NOT task_id IS NULL) AS lost_w'
        'orker FROM per_id AS p JOIN dup AS d ON d.task_id = p.task_id LEFT JOIN '
        'gaps AS g ON g.task_id = p.task_id'
    )),
    'lost_workers': ('c71a2f8e41b3da27', (
        'WITH base AS (SELECT timestamp AS time, LPAD(CAST(EPOCH_US(timestamp) AS'
        " TEXT), 20, '0') || '|' || COALESCE(insert_id, '') AS ok, NOT json_paylo"
        'ad IS NULL AS has_json, text_payload, event AS event, task_id AS task_id'
        ', task_name AS task_name, organization_id AS organization_id, user_id AS'
        ' user_id, CAST(retries AS TEXT) AS retries_text, CAST(retries AS DOUBLE)'
        ' AS retries, exception_type AS exception_type, exception_message AS exce'
        'ption_message, CAST(duration_ms AS DOUBLE) AS duration_ms, CAST(queue_wa'
        'it_ms AS DOUBLE) AS queue_wait_ms, group_id AS group_id, chord_id AS cho'
        'rd_id, chord_callback_id AS chord_callback_id, chord_callback_name AS ch'
        'ord_callback_name, CAST(chord_size AS DOUBLE) AS chord_size, CAST(member'
        's_expected AS DOUBLE) AS members_expected, message AS message, worker AS'
        " worker, reason AS reason, CAST(redelivered AS TEXT) = 'true' AS redeliv"
        "ered, JSON_VALUE(resource.labels, '$.pod_name') ->> '$' AS pod FROM rhes"
        'is_logs WHERE __rhesis_where__), entries AS (SELECT * FROM base WHERE __'
        "rhesis_filters__), lost_lines AS (SELECT CASE WHEN event IN ('task_faile"
        "d', 'task_internal_error') AND REGEXP_MATCHES(COALESCE(exception_type, '"
        "'), 'TimeLimitExceeded$') AND NOT REGEXP_MATCHES(COALESCE(exception_type"
        ", ''), '[Ss]oftTimeLimitExceeded$') THEN 'time_limit' WHEN event IN ('ta"
        "sk_failed', 'task_internal_error') AND REGEXP_MATCHES(COALESCE(exception"
        "_type, ''), 'WorkerLostError$') THEN 'worker_lost' WHEN event = 'worker_"
        "lost' THEN 'worker_lost' WHEN event = 'time_limit_exceeded' THEN 'time_l"
        "imit' WHEN event = 'broker_connection_lost' THEN 'broker_connection_lost"
        "' END AS kind, COALESCE(worker, pod, '<unknown>') AS worker, time, ok, C"
        "OALESCE(task_id, ARRAY_EXTRACT(REGEXP_EXTRACT_ALL(message, '[\\w.:-]+\\[(["
        '0-9a-fA-F-]{8,})\\]\', 1), 1)) AS task_id /* Celery\'s "Hard time limit (1s'
        ') exceeded for tasks.x[<id>]" names the task in its text */, COALESCE(ta'
        "sk_name, ARRAY_EXTRACT(REGEXP_EXTRACT_ALL(message, '([\\w.:-]+)\\[[0-9a-fA"
        "-F-]{8,}\\]', 1), 1)) AS task_name, COALESCE(exception_message, reason, m"
        "essage) AS example_message FROM entries WHERE event IN ('task_failed', '"
        "task_internal_error', 'worker_lost', 'time_limit_exceeded', 'broker_conn"
        "ection_lost')), lost AS (/* a worker may log a lost task twice (the pool"
        "'s error and the task's failure); ties in */ /* time put the lines with "
        'a task id first */ SELECT *, SUBSTRING(ok, 1, 20) || CASE WHEN task_id I'
        "S NULL THEN '1' ELSE '0' END || ok AS lost_order FROM (SELECT *, ROW_NUM"
        'BER() OVER (PARTITION BY kind, task_id ORDER BY ok NULLS FIRST) AS nth F'
        'ROM lost_lines WHERE NOT kind IS NULL) WHERE task_id IS NULL OR nth = 1)'
        ', picked AS (SELECT * FROM lost), top AS (SELECT kind, worker, LISTAGG(v'
        ", ', ' ORDER BY v NULLS FIRST) AS top, ANY_VALUE(n) AS distinct_values F"
        'ROM (SELECT kind, worker, v, ROW_NUMBER() OVER (PARTITION BY kind, worke'
        'r ORDER BY v NULLS FIRST) AS r, COUNT(*) OVER (PARTITION BY kind, worker'
        ') AS n FROM (SELECT DISTINCT kind, worker, CAST(task_name AS TEXT) AS v '
        'FROM picked WHERE NOT task_name IS NULL)) WHERE r <= 5 GROUP BY kind, wo'
        'rker) SELECT g.*, t.top AS task_name_top, t.distinct_values AS task_name'
        '_count FROM (SELECT kind, worker, COUNT(*) AS count, COUNT(DISTINCT task'
        '_id) AS task_ids, MIN(time) AS first_seen, MAX(time) AS last_seen, ARG_M'
        "IN(task_id, CASE WHEN task_id IS NULL THEN '~' ELSE lost_order END) AS e"
        'xample_task_id, ARG_MIN(example_message, CASE WHEN example_message IS NU'
        "LL THEN '~' ELSE lost_order END) AS example_message, MIN(lost_order) AS "
        '_order FROM picked GROUP BY 1, 2) AS g LEFT JOIN top AS t ON t.kind = g.'
        'kind AND t.worker = g.worker'
    )),
    'slow_tasks': ('fe529b419716d859', (
        'WITH base AS (SELECT timestamp AS time, LPAD(CAST(EPOCH_US(timestamp) AS'
        " TEXT), 20, '0') || '|' || COALESCE(insert_id, '') AS ok, NOT json_paylo"
        'ad IS NULL AS has_json, text_payload, event AS event, task_id AS task_id'
        ', task_name AS task_name, organization_id AS organization_id, user_id AS'
        ' user_id, CAST(retries AS TEXT) AS retries_text, CAST(retries AS DOUBLE)'
        ' AS retries, exception_type AS exception_type, exception_message AS exce'
        'ption_message, CAST(duration_ms AS DOUBLE) AS duration_ms, CAST(queue_wa'
        'it_ms AS DOUBLE) AS queue_wait_ms, group_id AS group_id, chord_id AS cho'
        'rd_id, chord_callback_id AS chord_callback_id, chord_callback_name AS ch'
        'ord_callback_name, CAST(chord_size AS DOUBLE) AS chord_size, CAST(member'
        's_expected AS DOUBLE) AS members_expected, message AS message, worker AS'
        " worker, reason AS reason, CAST(redelivered AS TEXT) = 'true' AS redeliv"
        "ered, JSON_VALUE(resource.labels, '$.pod_name') ->> '$' AS pod FROM rhes"
        'is_logs WHERE __rhesis_where__), entries AS (SELECT * FROM base WHERE __'
        "rhesis_filters__), runs AS (SELECT COALESCE(task_name, '<unknown>') AS t"
        "ask_name, duration_ms AS ms, ok FROM entries WHERE event IN ('task_faile"
        "d', 'task_retried', 'task_revoked', 'task_succeeded') AND NOT duration_m"
        's IS NULL), received AS (/* the last received line of each id and retry '
        'number */ SELECT task_id, retry_no, ARG_MAX(time, ok) AS received_at FRO'
        'M (SELECT task_id, time, ok, CASE WHEN CASE WHEN CAST(COALESCE(retries, '
        '0) AS BIGINT) IS NULL OR 0 IS NULL THEN NULL ELSE GREATEST(CAST(COALESCE'
        '(retries, 0) AS BIGINT), 0) END IS NULL OR 1023 IS NULL THEN NULL ELSE L'
        'EAST(CASE WHEN CAST(COALESCE(retries, 0) AS BIGINT) IS NULL OR 0 IS NULL'
        ' THEN NULL ELSE GREATEST(CAST(COALESCE(retries, 0) AS BIGINT), 0) END, 1'
        "023) END AS retry_no FROM entries WHERE event = 'task_received' AND NOT "
        'task_id IS NULL AND NOT time IS NULL) GROUP BY 1, 2), started AS (SELECT'
        " COALESCE(task_name, '<unknown>') AS task_name, task_id, time, ok, queue"
        '_wait_ms, CASE WHEN CASE WHEN CAST(COALESCE(retries, 0) AS BIGINT) IS NU'
        'LL OR 0 IS NULL THEN NULL ELSE GREATEST(CAST(COALESCE(retries, 0) AS BIG'
        'INT), 0) END IS NULL OR 1023 IS NULL THEN NULL ELSE LEAST(CASE WHEN CAST'
        '(COALESCE(retries, 0) AS BIGINT) IS NULL OR 0 IS NULL THEN NULL ELSE GRE'
        'ATEST(CAST(COALESCE(retries, 0) AS BIGINT), 0) END, 1023) END AS retry_n'
        "o FROM entries WHERE event = 'task_started'), waits AS (SELECT * FROM (S"
        "ELECT s.task_name, s.ok, COALESCE(s.queue_wait_ms, CASE WHEN DATE_DIFF('"
        "MICROSECOND', r.received_at, s.time) >= 0 THEN DATE_DIFF('MICROSECOND', "
        'r.received_at, s.time) / 1000.0 ELSE NULL END) AS ms FROM started AS s L'
        'EFT JOIN received AS r ON r.task_id = s.task_id AND r.retry_no = s.retry'
        "_no) WHERE NOT ms IS NULL), run_ranked AS (/* each value's rank in its t"
        'ask name, and how many there are */ SELECT task_name, ms, ROW_NUMBER() O'
        'VER (PARTITION BY task_name ORDER BY ms NULLS FIRST) - 1 AS i, COUNT(*) '
        'OVER (PARTITION BY task_name) AS n FROM runs), run_pct AS (SELECT task_n'
        'ame, CASE WHEN ANY_VALUE(p50_ms_f) = 0 THEN MAX(CASE WHEN i = p50_ms_lo '
        'THEN ms ELSE NULL END) ELSE MAX(CASE WHEN i = p50_ms_lo THEN ms ELSE NUL'
        'L END) + (MAX(CASE WHEN i = CASE WHEN (p50_ms_lo + 1) IS NULL OR (n - 1)'
        ' IS NULL THEN NULL ELSE LEAST(p50_ms_lo + 1, n - 1) END THEN ms ELSE NUL'
        'L END) - MAX(CASE WHEN i = p50_ms_lo THEN ms ELSE NULL END)) * ANY_VALUE'
        '(p50_ms_f) END AS p50_ms, CASE WHEN ANY_VALUE(p95_ms_f) = 0 THEN MAX(CAS'
        'E WHEN i = p95_ms_lo THEN ms ELSE NULL END) ELSE MAX(CASE WHEN i = p95_m'
        's_lo THEN ms ELSE NULL END) + (MAX(CASE WHEN i = CASE WHEN (p95_ms_lo + '
        '1) IS NULL OR (n - 1) IS NULL THEN NULL ELSE LEAST(p95_ms_lo + 1, n - 1)'
        ' END THEN ms ELSE NULL END) - MAX(CASE WHEN i = p95_ms_lo THEN ms ELSE N'
        'ULL END)) * ANY_VALUE(p95_ms_f) END AS p95_ms, CASE WHEN ANY_VALUE(p99_m'
        's_f) = 0 THEN MAX(CASE WHEN i = p99_ms_lo THEN ms ELSE NULL END) ELSE MA'
        'X(CASE WHEN i = p99_ms_lo THEN ms ELSE NULL END) + (MAX(CASE WHEN i = CA'
        'SE WHEN (p99_ms_lo + 1) IS NULL OR (n - 1) IS NULL THEN NULL ELSE LEAST('
        'p99_ms_lo + 1, n - 1) END THEN ms ELSE NULL END) - MAX(CASE WHEN i = p99'
        '_ms_lo THEN ms ELSE NULL END)) * ANY_VALUE(p99_ms_f) END AS p99_ms FROM '
        '(SELECT *, CAST(FLOOR(CAST(0.5 AS DOUBLE) * CAST(n - 1 AS DOUBLE)) AS BI'
        'GINT) AS p50_ms_lo, CAST(0.5 AS DOUBLE) * CAST(n - 1 AS DOUBLE) - FLOOR('
        'CAST(0.5 AS DOUBLE) * CAST(n - 1 AS DOUBLE)) AS p50_ms_f, CAST(FLOOR(CAS'
        'T(0.95 AS DOUBLE) * CAST(n - 1 AS DOUBLE)) AS BIGINT) AS p95_ms_lo, CAST'
        '(0.95 AS DOUBLE) * CAST(n - 1 AS DOUBLE) - FLOOR(CAST(0.95 AS DOUBLE) * '
        'CAST(n - 1 AS DOUBLE)) AS p95_ms_f, CAST(FLOOR(CAST(0.99 AS DOUBLE) * CA'
        'ST(n - 1 AS DOUBLE)) AS BIGINT) AS p99_ms_lo, CAST(0.99 AS DOUBLE) * CAS'
        'T(n - 1 AS DOUBLE) - FLOOR(CAST(0.99 AS DOUBLE) * CAST(n - 1 AS DOUBLE))'
        ' AS p99_ms_f FROM run_ranked) GROUP BY 1), run_agg AS (/* the sum in BIG'
        'NUMERIC: exact and the same on every run (a FLOAT64 sum depends on the *'
        "/ /* order BigQuery's workers add in); the caller divides, as pandas' me"
        'an does */ SELECT task_name, COUNT(*) AS count, MAX(ms) AS max_ms, CAST('
        'SUM(CAST(ms AS DECIMAL(38, 5))) AS DOUBLE) AS ms_sum, MIN(ok) AS run_ord'
        "er FROM runs GROUP BY 1), wait_ranked AS (/* each value's rank in its ta"
        'sk name, and how many there are */ SELECT task_name, ms, ROW_NUMBER() OV'
        'ER (PARTITION BY task_name ORDER BY ms NULLS FIRST) - 1 AS i, COUNT(*) O'
        'VER (PARTITION BY task_name) AS n FROM waits), wait_pct AS (SELECT task_'
        'name, CASE WHEN ANY_VALUE(wait_p50_ms_f) = 0 THEN MAX(CASE WHEN i = wait'
        '_p50_ms_lo THEN ms ELSE NULL END) ELSE MAX(CASE WHEN i = wait_p50_ms_lo '
        'THEN ms ELSE NULL END) + (MAX(CASE WHEN i = CASE WHEN (wait_p50_ms_lo + '
        '1) IS NULL OR (n - 1) IS NULL THEN NULL ELSE LEAST(wait_p50_ms_lo + 1, n'
        ' - 1) END THEN ms ELSE NULL END) - MAX(CASE WHEN i = wait_p50_ms_lo THEN'
        ' ms ELSE NULL END)) * ANY_VALUE(wait_p50_ms_f) END AS wait_p50_ms, CASE '
        'WHEN ANY_VALUE(wait_p95_ms_f) = 0 THEN MAX(CASE WHEN i = wait_p95_ms_lo '
        'THEN ms ELSE NULL END) ELSE MAX(CASE WHEN i = wait_p95_ms_lo THEN ms ELS'
        'E NULL END) + (MAX(CASE WHEN i = CASE WHEN (wait_p95_ms_lo + 1) IS NULL '
        'OR (n - 1) IS NULL THEN NULL ELSE LEAST(wait_p95_ms_lo + 1, n - 1) END T'
        'HEN ms ELSE NULL END) - MAX(CASE WHEN i = wait_p95_ms_lo THEN ms ELSE NU'
        'LL END)) * ANY_VALUE(wait_p95_ms_f) END AS wait_p95_ms FROM (SELECT *, C'
        'AST(FLOOR(CAST(0.5 AS DOUBLE) * CAST(n - 1 AS DOUBLE)) AS BIGINT) AS wai'
        't_p50_ms_lo, CAST(0.5 AS DOUBLE) * CAST(n - 1 AS DOUBLE) - FLOOR(CAST(0.'
        '5 AS DOUBLE) * CAST(n - 1 AS DOUBLE)) AS wait_p50_ms_f, CAST(FLOOR(CAST('
        '0.95 AS DOUBLE) * CAST(n - 1 AS DOUBLE)) AS BIGINT) AS wait_p95_ms_lo, C'
        'AST(0.95 AS DOUBLE) * CAST(n - 1 AS DOUBLE) - FLOOR(CAST(0.95 AS DOUBLE)'
        ' * CAST(n - 1 AS DOUBLE)) AS wait_p95_ms_f FROM wait_ranked) GROUP BY 1)'
        ', wait_agg AS (SELECT task_name, COUNT(*) AS waits, MAX(ms) AS wait_max_'
        'ms, MIN(ok) AS wait_order FROM waits GROUP BY 1), names AS (SELECT task_'
        'name FROM run_agg UNION SELECT task_name FROM wait_agg) SELECT names.tas'
        'k_name, run_agg.count, run_pct.p50_ms, run_pct.p95_ms, run_pct.p99_ms, r'
        'un_agg.max_ms, run_agg.ms_sum, run_agg.run_order, wait_agg.waits, wait_p'
        'ct.wait_p50_ms, wait_pct.wait_p95_ms, wait_agg.wait_max_ms, wait_agg.wai'
        't_order FROM names LEFT JOIN run_pct ON run_pct.task_name = names.task_n'
        'ame LEFT JOIN run_agg ON run_agg.task_name = names.task_name LEFT JOIN w'
        'ait_pct ON wait_pct.task_name = names.task_name LEFT JOIN wait_agg ON wa'
        'it_agg.task_name = names.task_name'
    )),
    'over_time': ('4532a0803eea3e38', (
        'WITH base AS (SELECT timestamp AS time, LPAD(CAST(EPOCH_US(timestamp) AS'
        " TEXT), 20, '0') || '|' || COALESCE(insert_id, '') AS ok, NOT json_paylo"
        'ad IS NULL AS has_json, text_payload, event AS event, task_id AS task_id'
        ', task_name AS task_name, organization_id AS organization_id, user_id AS'
        ' user_id, CAST(retries AS TEXT) AS retries_text, CAST(retries AS DOUBLE)'
        ' AS retries, exception_type AS exception_type, exception_message AS exce'
        'ption_message, CAST(duration_ms AS DOUBLE) AS duration_ms, CAST(queue_wa'
        'it_ms AS DOUBLE) AS queue_wait_ms, group_id AS group_id, chord_id AS cho'
        'rd_id, chord_callback_id AS chord_callback_id, chord_callback_name AS ch'
        'ord_callback_name, CAST(chord_size AS DOUBLE) AS chord_size, CAST(member'
        's_expected AS DOUBLE) AS members_expected, message AS message, worker AS'
        " worker, reason AS reason, CAST(redelivered AS TEXT) = 'true' AS redeliv"
        "ered, JSON_VALUE(resource.labels, '$.pod_name') ->> '$' AS pod FROM rhes"
        'is_logs WHERE __rhesis_where__), entries AS (SELECT * FROM base WHERE __'
        'rhesis_filters__) SELECT EPOCH_US(time) // __rhesis_bucket_us__ AS bucke'
        "t_no, COUNT_IF(event = 'task_received') AS received, COUNT_IF(event = 't"
        "ask_succeeded') AS succeeded, COUNT_IF(event = 'task_failed') AS failed,"
        " COUNT_IF(event = 'task_retried') AS retried FROM entries WHERE event IN"
        " ('task_received', 'task_succeeded', 'task_failed', 'task_retried') AND "
        'NOT time IS NULL GROUP BY 1'
    )),
}
