-- The rows every report section reads: the window's entries of the workload (base, for the
-- line counts) and those of the tenant/task asked for (entries). ``ok`` is the order key,
-- the order Cloud Logging returns entries in: timestamp, then insert id (``order_key``:
-- log_analytics.ORDER_KEY, or a column holding the same text). (Not a full query:
-- the section queries start with WITH {entries}.)
base AS (
  SELECT
    timestamp AS {n.TIME},
    {order_key} AS ok,
    json_payload IS NOT NULL AS has_json,
    text_payload,
    {j.EVENT} AS {n.EVENT},
    {j.TASK_ID} AS {n.TASK_ID},
    {j.TASK_NAME} AS {n.TASK_NAME},
    {j.ORGANIZATION_ID} AS {n.ORGANIZATION_ID},
    {j.USER_ID} AS {n.USER_ID},
    {j.RETRIES} AS retries_text,
    {num.RETRIES} AS {n.RETRIES},
    {j.EXCEPTION_TYPE} AS {n.EXCEPTION_TYPE},
    {j.EXCEPTION_MESSAGE} AS {n.EXCEPTION_MESSAGE},
    {num.DURATION_MS} AS {n.DURATION_MS},
    {num.QUEUE_WAIT_MS} AS {n.QUEUE_WAIT_MS},
    {j.GROUP_ID} AS {n.GROUP_ID},
    {j.CHORD_ID} AS {n.CHORD_ID},
    {j.CHORD_CALLBACK_ID} AS {n.CHORD_CALLBACK_ID},
    {j.CHORD_CALLBACK_NAME} AS {n.CHORD_CALLBACK_NAME},
    {num.CHORD_SIZE} AS {n.CHORD_SIZE},
    {num.MEMBERS_EXPECTED} AS {n.MEMBERS_EXPECTED},
    {j.MESSAGE} AS {n.MESSAGE},
    {j.WORKER} AS {n.WORKER},
    {j.REASON} AS {n.REASON},
    {j.REDELIVERED} = 'true' AS {n.REDELIVERED},
    JSON_VALUE(resource.labels, '$.pod_name') AS {n.POD}
  FROM {table}
  WHERE {where}
),
entries AS (
  SELECT * FROM base WHERE {filters}
)
