-- Cache misses read a key only through unique indexes (the hash, the roll chain, the primary
-- key, the IP rules' key id). PL/pgSQL keeps a generic plan per connection once it has run the
-- lookup a few times; made while api_keys was small (a new deployment, or before an import),
-- that plan scans the whole table, and PostgreSQL keeps it until the next ANALYZE: 20,000 keys
-- inserted at once made each miss take 20–30 ms until autovacuum came by. Without sequential
-- scans the plan is the index plan whatever the table's size was when it was made (measured:
-- 0.20 ms a lookup either way once the table is analyzed).
ALTER FUNCTION keygate_load_key(bpchar) SET enable_seqscan = off;
