-- Cache misses read a key through unique indexes only, whatever api_keys held when the plan was
-- made. PL/pgSQL keeps a generic plan per connection once it has run the lookup a few times;
-- made while the table was small (a new deployment, or before a bulk import), the plan of
-- 20261124120000 scanned the whole table (or the whole rolled_from_id index, materialized) for
-- the walk of a key's rolls, and PostgreSQL kept it until the next ANALYZE: 20,000 keys
-- inserted at once made every miss take 10–30 ms until autovacuum came by.
--
-- Each join is now a LATERAL lookup of one row by a unique key, which the planner cannot turn
-- into a scan of the whole table to join against, and sequential scans are off for the
-- function, so each lookup is an index lookup. Same columns, same answers.
CREATE OR REPLACE FUNCTION keygate_load_key(p_hash bpchar)
RETURNS TABLE (
  id uuid, prefix text, application_id uuid, merchant_id text, environment text, access text,
  scopes text[], expires_at timestamptz, revoked boolean, key_enabled boolean, enabled boolean,
  metadata text, external_id text, ip_default_action text, meter_id uuid, has_credits boolean,
  refill_interval text, refill_day integer, credits_epoch integer, rate_limits jsonb, ip_rules json
) LANGUAGE plpgsql STABLE
SET enable_seqscan = off
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH RECURSIVE chain AS (
    -- The end of the key's chain of rolls carries the metering (it moved there with each roll).
    SELECT c.id, 0 AS depth FROM api_keys c WHERE c.hash = p_hash
    UNION ALL
    SELECT s.id, ch.depth + 1 FROM chain ch
    CROSS JOIN LATERAL (SELECT n.id FROM api_keys n WHERE n.rolled_from_id = ch.id LIMIT 1) s
    WHERE ch.depth < 32
  )
  SELECT k.id, k.prefix::text, k.application_id, k.merchant_id::text, k.environment::text,
         k.access::text, k.scopes, k.expires_at::timestamptz, k.revoked_at IS NOT NULL,
         k.enabled, a.enabled, k.metadata::text, k.external_id::text,
         k.ip_default_action::text, m.id,
         m.credits_remaining IS NOT NULL, m.refill_interval::text,
         m.refill_day, m.credits_epoch, m.rate_limits,
         COALESCE((SELECT json_agg(json_build_object('cidr', r.cidr, 'action', r.action) ORDER BY r.position)
                   FROM ip_rules r WHERE r.key_id = k.id), '[]'::json)
  FROM api_keys k
  CROSS JOIN LATERAL (SELECT ap.enabled FROM applications ap WHERE ap.id = k.application_id LIMIT 1) a
  CROSS JOIN LATERAL (
    SELECT mk.id, mk.credits_remaining, mk.refill_interval, mk.refill_day, mk.credits_epoch, mk.rate_limits
    FROM api_keys mk WHERE mk.id = (SELECT chain.id FROM chain ORDER BY chain.depth DESC LIMIT 1) LIMIT 1
  ) m
  WHERE k.hash = p_hash;
END;
$$;
