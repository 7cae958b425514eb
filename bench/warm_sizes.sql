-- What `complaintdesk db warm` reads, by group, in its order: the sizes behind
-- docs/capacity.md, "What `db warm` keeps in memory" (read-only: the catalogue's sizes
-- and one count of the complaints).
--
--   psql postgresql://root@127.0.0.1:5432/read_1m -f bench/warm_sizes.sql
--
-- The indexes are db/warm.py's HOT_INDEXES; a partitioned index counts its months'.
SELECT 'complaints'' primary keys' AS what, count(*) AS indexes,
       sum(pg_relation_size(relid)) AS bytes
  FROM pg_partition_tree('pk_complaints') WHERE isleaf
UNION ALL SELECT 'owner_complaints'' primary key', 1, pg_relation_size('pk_owner_complaints')
UNION ALL SELECT 'small hot indexes', count(*), sum(pg_relation_size(relid)) FROM (
  SELECT relid FROM unnest(ARRAY['ix_complaints_open_assignee_due', 'ix_complaints_open_receiver',
    'ix_complaints_open_assignee_follow_up', 'ix_complaints_open_receiver_follow_up',
    'ix_complaints_open_project_due', 'ix_complaints_open_id']) AS p,
    pg_partition_tree(p::regclass) WHERE isleaf
  UNION ALL SELECT unnest(ARRAY['ix_sla_checks_due', 'pk_sla_checks',
    'pk_complaint_departments']::regclass[])) s
UNION ALL SELECT 'complaints', NULL, (SELECT count(*) FROM complaints);
