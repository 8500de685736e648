-- over_time: received, succeeded, failed and retried lines per time bucket (the empty
-- buckets are filled in by the caller).
WITH {entries}
SELECT
  DIV(UNIX_MICROS({n.TIME}), {bucket_us}) AS bucket_no,
  COUNTIF({n.EVENT} = '{e.TASK_RECEIVED}') AS received,
  COUNTIF({n.EVENT} = '{e.TASK_SUCCEEDED}') AS succeeded,
  COUNTIF({n.EVENT} = '{e.TASK_FAILED}') AS failed,
  COUNTIF({n.EVENT} = '{e.TASK_RETRIED}') AS retried
FROM entries
WHERE {n.EVENT} IN ('{e.TASK_RECEIVED}', '{e.TASK_SUCCEEDED}', '{e.TASK_FAILED}',
                    '{e.TASK_RETRIED}')
  AND {n.TIME} IS NOT NULL
GROUP BY 1
