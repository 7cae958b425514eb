-- A month's events partition after a fold, in small: N complaints, each one folded row
-- of about 450 bytes left and 7 deleted rows of about 150 bytes; then the rewrite.
\set n 100000
DROP TABLE IF EXISTS ev;
CREATE TABLE ev (id bigint, complaint_id bigint, at timestamptz, actor_id bigint, kind varchar(40),
  field varchar(40), old text, new text, data jsonb);
INSERT INTO ev SELECT g * 8 + k, g, now(), 917875925776601088, 'dispatch', NULL, NULL, NULL,
  '{"sent": "sms +3600", "assignee": "917875925776601088", "department": "engineering"}'
  FROM generate_series(1, :n) g, generate_series(1, 7) k;
INSERT INTO ev SELECT g * 8, g, now(), NULL, 'folded', NULL, NULL, NULL,
  jsonb_build_object('packed', repeat(md5(g::text), 12) || left(md5((g+1)::text), 4))
  FROM generate_series(1, :n) g;
ALTER TABLE ev ADD PRIMARY KEY (id);
CREATE INDEX ev_c ON ev (complaint_id);
CREATE INDEX ev_w ON ev (complaint_id) WHERE kind = 'withdraw';
DELETE FROM ev WHERE kind <> 'folded';
VACUUM ev;
SELECT pg_size_pretty(pg_total_relation_size('ev')) AS before_rewrite;
\timing on
VACUUM (FULL) ev;
\timing off
SELECT pg_size_pretty(pg_relation_size('ev')) AS heap, pg_size_pretty(pg_indexes_size('ev')) AS indexes;
DROP TABLE ev;
