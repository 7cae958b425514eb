-- What the outbox purge's VACUUM (INDEX_CLEANUP ON) of a month costs (docs/capacity.md,
-- "Bytes per complaint", session 9): 2,000,000 event-like rows with a primary key and
-- an index on the complaint, 2 % of them rewritten (the purge's threshold), then the
-- vacuum timed; then the same with a plain VACUUM.
--
--   psql -d postgres -c 'CREATE DATABASE vacuum_scratch'
--   psql -d vacuum_scratch -f bench/vacuum_cost.sql
--   psql -d postgres -c 'DROP DATABASE vacuum_scratch'
\timing on
CREATE TABLE e (id bigint PRIMARY KEY, complaint_id bigint, at timestamptz, kind varchar(40), data jsonb);
CREATE INDEX ON e (complaint_id);
INSERT INTO e SELECT g, g / 8, now(), 'follow_up', jsonb_build_object('note', repeat('a', 100))
FROM generate_series(1, 2000000) g;
VACUUM ANALYZE e;
SELECT pg_relation_size('e') / 1048576 AS heap_mb, pg_indexes_size('e') / 1048576 AS indexes_mb;
UPDATE e SET data = data || '{"sent": "sms +42"}' WHERE id BETWEEN 1 AND 40000;
VACUUM (INDEX_CLEANUP ON) e;
UPDATE e SET data = data || '{"sent": "sms +42"}' WHERE id BETWEEN 40001 AND 80000;
VACUUM e;
DROP TABLE e;
