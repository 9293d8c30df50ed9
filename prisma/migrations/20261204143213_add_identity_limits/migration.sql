-- AlterTable
ALTER TABLE "identities" ADD COLUMN     "credits_epoch" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "credits_remaining" INTEGER,
ADD COLUMN     "credits_reserved" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "rate_limits" JSONB NOT NULL DEFAULT '[]',
ADD COLUMN     "refill_amount" INTEGER,
ADD COLUMN     "refill_day" INTEGER,
ADD COLUMN     "refill_interval" "RefillInterval",
ADD COLUMN     "refilled_at" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "identity_rate_limit_windows" (
    "identity_id" UUID NOT NULL,
    "name" VARCHAR(64) NOT NULL,
    "window_start" TIMESTAMPTZ(3) NOT NULL,
    "window_end" TIMESTAMPTZ(3) NOT NULL,
    "used" INTEGER NOT NULL,

    CONSTRAINT "identity_rate_limit_windows_pkey" PRIMARY KEY ("identity_id","name","window_start")
);

-- CreateIndex
CREATE INDEX "identity_rate_limit_windows_window_end_idx" ON "identity_rate_limit_windows"("window_end");

-- AddForeignKey
ALTER TABLE "identity_rate_limit_windows" ADD CONSTRAINT "identity_rate_limit_windows_identity_id_fkey" FOREIGN KEY ("identity_id") REFERENCES "identities"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Credits are never negative, and never reserved below nothing.
ALTER TABLE "identities" ADD CONSTRAINT "identities_credits_check" CHECK ("credits_remaining" >= 0 AND "credits_reserved" >= 0);

-- Reservations from an identity's shared pools: keygate_meter_take (add_metering), over the
-- identity's row and windows. A verification of one of its keys takes from both, all or nothing,
-- in the engine (core/src/engine/meter.ts).
CREATE FUNCTION keygate_identity_meter_take(p_identity uuid, p_now timestamptz, p_credits jsonb, p_limits jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  k record;
  v_due timestamptz;
  v_pool int;
  v_taken int;
  v_credits jsonb := NULL;
  v_limits jsonb := '[]'::jsonb;
  v_request jsonb;
  v_config jsonb;
  v_limit int;
  v_window_ms bigint;
  v_start timestamptz;
  v_used int;
  v_room int;
BEGIN
  SELECT a.credits_remaining, a.refill_amount, a.refill_interval::text AS refill_interval, a.refill_day,
         a.refilled_at, a.credits_epoch, a.rate_limits
    INTO k FROM identities a WHERE a.id = p_identity FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;

  IF p_credits IS NOT NULL AND k.credits_remaining IS NOT NULL THEN
    v_pool := k.credits_remaining;
    IF k.refill_interval IS NOT NULL THEN
      v_due := keygate_refill_due(k.refill_interval, k.refill_day, p_now);
      IF k.refilled_at IS NULL OR k.refilled_at < v_due THEN
        v_pool := k.refill_amount;
        k.credits_epoch := k.credits_epoch + 1;
        UPDATE identities SET refilled_at = v_due, credits_epoch = k.credits_epoch, credits_reserved = 0
          WHERE id = p_identity;
      END IF;
    END IF;
    v_taken := LEAST(v_pool, GREATEST((p_credits->>'need')::int, LEAST((p_credits->>'want')::int, (v_pool + 7) / 8)));
    UPDATE identities SET credits_remaining = v_pool - v_taken, credits_reserved = credits_reserved + v_taken
      WHERE id = p_identity;
    v_credits := jsonb_build_object(
      'taken', v_taken,
      'left', v_pool - v_taken,
      'epoch', k.credits_epoch,
      'validUntil', CASE WHEN k.refill_interval IS NULL THEN NULL
        ELSE (extract(epoch FROM keygate_next_refill(k.refill_interval, k.refill_day, p_now)) * 1000)::bigint END);
  END IF;

  FOR v_request IN SELECT value FROM jsonb_array_elements(COALESCE(p_limits, '[]'::jsonb)) LOOP
    SELECT value INTO v_config FROM jsonb_array_elements(k.rate_limits) WHERE value->>'name' = v_request->>'name';
    CONTINUE WHEN v_config IS NULL;
    v_limit := (v_config->>'limit')::int;
    v_window_ms := (v_config->>'windowSeconds')::bigint * 1000;
    v_start := to_timestamp((floor(extract(epoch FROM p_now) * 1000 / v_window_ms) * v_window_ms / 1000)::float8);
    SELECT w.used INTO v_used FROM identity_rate_limit_windows w
      WHERE w.identity_id = p_identity AND w.name = v_request->>'name' AND w.window_start = v_start;
    v_room := GREATEST(0, v_limit - COALESCE(v_used, 0));
    v_taken := LEAST(v_room,
      GREATEST((v_request->>'need')::int, LEAST((v_request->>'want')::int, (v_room + 3) / 4)));
    IF v_taken > 0 THEN
      INSERT INTO identity_rate_limit_windows (identity_id, name, window_start, window_end, used)
        VALUES (p_identity, v_request->>'name', v_start, v_start + v_window_ms * interval '1 millisecond', v_taken)
        ON CONFLICT (identity_id, name, window_start) DO UPDATE SET used = identity_rate_limit_windows.used + v_taken;
    END IF;
    v_limits := v_limits || jsonb_build_object(
      'name', v_request->>'name',
      'limit', v_limit,
      'windowMs', v_window_ms,
      'windowStart', (extract(epoch FROM v_start) * 1000)::bigint,
      'taken', v_taken,
      'left', v_room - v_taken);
  END LOOP;

  RETURN jsonb_build_object('credits', v_credits, 'limits', v_limits);
END
$$;

-- A key's verification record carries its identity's shared metering settings.
DROP FUNCTION keygate_load_key(bpchar);
CREATE FUNCTION keygate_load_key(p_hash bpchar)
RETURNS TABLE (
  id uuid, prefix text, application_id uuid, merchant_id text, environment text, access text,
  scopes text[], expires_at timestamptz, revoked boolean, key_enabled boolean, enabled boolean,
  metadata text, external_id text, ip_default_action text, meter_id uuid, has_credits boolean,
  refill_interval text, refill_day integer, credits_epoch integer, rate_limits jsonb, ip_rules json,
  role_ids text[], identity_id uuid, identity_external_id text, identity_metadata text,
  identity_has_credits boolean, identity_refill_interval text, identity_refill_day integer,
  identity_credits_epoch integer, identity_rate_limits jsonb
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
         k.access::text,
         CASE WHEN rl.ids IS NULL THEN k.scopes
              ELSE ARRAY(SELECT DISTINCT x FROM unnest(k.scopes || rl.scopes) x ORDER BY x) END,
         k.expires_at::timestamptz, k.revoked_at IS NOT NULL,
         k.enabled, a.enabled, k.metadata::text, k.external_id::text,
         k.ip_default_action::text, m.id,
         m.credits_remaining IS NOT NULL, m.refill_interval::text,
         m.refill_day, m.credits_epoch, m.rate_limits,
         COALESCE((SELECT json_agg(json_build_object('cidr', r.cidr, 'action', r.action) ORDER BY r.position)
                   FROM ip_rules r WHERE r.key_id = k.id), '[]'::json),
         rl.ids, i.id, i.external_id::text, i.metadata::text,
         i.credits_remaining IS NOT NULL, i.refill_interval::text, i.refill_day, i.credits_epoch, i.rate_limits
  FROM api_keys k
  CROSS JOIN LATERAL (SELECT ap.enabled FROM applications ap WHERE ap.id = k.application_id LIMIT 1) a
  CROSS JOIN LATERAL (
    SELECT mk.id, mk.credits_remaining, mk.refill_interval, mk.refill_day, mk.credits_epoch, mk.rate_limits
    FROM api_keys mk WHERE mk.id = (SELECT chain.id FROM chain ORDER BY chain.depth DESC LIMIT 1) LIMIT 1
  ) m
  CROSS JOIN LATERAL (
    SELECT array_agg(kr.role_id::text ORDER BY kr.role_id) AS ids,
           (SELECT array_agg(s) FROM key_roles kr2 JOIN roles ro ON ro.id = kr2.role_id
              CROSS JOIN LATERAL unnest(ro.scopes) s WHERE kr2.key_id = k.id) AS scopes
    FROM key_roles kr WHERE kr.key_id = k.id
  ) rl
  LEFT JOIN LATERAL (
    SELECT it.id, it.external_id, it.metadata, it.credits_remaining, it.refill_interval, it.refill_day,
           it.credits_epoch, it.rate_limits
    FROM identities it WHERE it.id = k.identity_id LIMIT 1
  ) i ON true
  WHERE k.hash = p_hash;
END;
$$;
