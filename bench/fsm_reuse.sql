-- Does a VACUUM give rewritten rows' room back to the next rewrites? (docs/capacity.md,
-- "Bytes per complaint", session 9: why the outbox purge vacuums with INDEX_CLEANUP ON)
--
--   psql -d postgres -c 'CREATE DATABASE fsm_scratch'
--   psql -d fsm_scratch -f bench/fsm_reuse.sql
--   psql -d postgres -c 'DROP DATABASE fsm_scratch'
--
-- 200,000 rows of about 200 bytes with a primary key and one more index; 2,000 rows
-- (1 % of them, on about 1 % of the pages) rewritten at a time, as a purge run
-- rewrites its events. Watch the pages after each round: a plain VACUUM skips the
-- indexes at so few dead rows ("index scan bypassed") and leaves those pages out of
-- the free space map, so the next round takes new pages; after VACUUM (INDEX_CLEANUP
-- ON) the next rounds take none.
CREATE TABLE t (id bigint PRIMARY KEY, c bigint, d jsonb);
CREATE INDEX ON t (c);
INSERT INTO t SELECT g, g / 8, jsonb_build_object('x', repeat('a', 150))
FROM generate_series(1, 200000) g;
VACUUM ANALYZE t;
SELECT pg_relation_size('t') / 8192 AS pages_at_start;
UPDATE t SET d = d || '{"s": "sms +42"}' WHERE id BETWEEN 1 AND 2000;
VACUUM (VERBOSE) t;
SELECT pg_relation_size('t') / 8192 AS pages_after_round_1_and_a_plain_vacuum;
UPDATE t SET d = d || '{"s": "sms +42"}' WHERE id BETWEEN 2001 AND 4000;
VACUUM t;
SELECT pg_relation_size('t') / 8192 AS pages_after_round_2_and_a_plain_vacuum;
UPDATE t SET d = d || '{"s": "sms +42"}' WHERE id BETWEEN 4001 AND 6000;
VACUUM (INDEX_CLEANUP ON) t;
SELECT pg_relation_size('t') / 8192 AS pages_after_round_3_and_index_cleanup_on;
UPDATE t SET d = d || '{"s": "sms +42"}' WHERE id BETWEEN 6001 AND 8000;
SELECT pg_relation_size('t') / 8192 AS pages_after_round_4;
UPDATE t SET d = d || '{"s": "sms +42"}' WHERE id BETWEEN 8001 AND 10000;
SELECT pg_relation_size('t') / 8192 AS pages_after_round_5;
DROP TABLE t;
