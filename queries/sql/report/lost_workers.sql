-- lost_workers: lost workers, time limits and broker disconnects per kind and worker.
WITH {entries},
{lost},
picked AS (SELECT * FROM lost),
{task_names}
SELECT
  g.*, t.top AS task_name_top, t.distinct_values AS task_name_count
FROM (
  SELECT
    kind, {n.WORKER},
    COUNT(*) AS count,
    COUNT(DISTINCT {n.TASK_ID}) AS task_ids,
    MIN({n.TIME}) AS first_seen,
    MAX({n.TIME}) AS last_seen,
    MIN_BY({n.TASK_ID}, IF({n.TASK_ID} IS NULL, '~', lost_order)) AS example_task_id,
    MIN_BY(example_message, IF(example_message IS NULL, '~', lost_order)) AS example_message,
    MIN(lost_order) AS _order
  FROM picked
  GROUP BY 1, 2
) AS g
LEFT JOIN top AS t ON t.kind = g.kind AND t.{n.WORKER} = g.{n.WORKER}
