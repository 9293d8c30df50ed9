-- AlterTable
ALTER TABLE "api_keys" ADD COLUMN     "identity_id" UUID;

-- CreateTable
CREATE TABLE "identities" (
    "id" UUID NOT NULL,
    "merchant_id" VARCHAR(128) NOT NULL,
    "external_id" VARCHAR(255) NOT NULL,
    "name" VARCHAR(100),
    "metadata" JSON,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "identities_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "identities_merchant_id_id_idx" ON "identities"("merchant_id", "id");

-- CreateIndex
CREATE UNIQUE INDEX "identities_merchant_id_external_id_key" ON "identities"("merchant_id", "external_id");

-- CreateIndex
CREATE UNIQUE INDEX "identities_id_merchant_id_key" ON "identities"("id", "merchant_id");

-- CreateIndex
CREATE INDEX "api_keys_identity_id_id_idx" ON "api_keys"("identity_id", "id");

-- AddForeignKey
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_identity_id_merchant_id_fkey" FOREIGN KEY ("identity_id", "merchant_id") REFERENCES "identities"("id", "merchant_id") ON DELETE NO ACTION ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "identities" ADD CONSTRAINT "identities_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- A key's verification record now names its identity (id, external id, metadata), returned with
-- every verification of the key.
DROP FUNCTION keygate_load_key(bpchar);
CREATE FUNCTION keygate_load_key(p_hash bpchar)
RETURNS TABLE (
  id uuid, prefix text, application_id uuid, merchant_id text, environment text, access text,
  scopes text[], expires_at timestamptz, revoked boolean, key_enabled boolean, enabled boolean,
  metadata text, external_id text, ip_default_action text, meter_id uuid, has_credits boolean,
  refill_interval text, refill_day integer, credits_epoch integer, rate_limits jsonb, ip_rules json,
  role_ids text[], identity_id uuid, identity_external_id text, identity_metadata text
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
         rl.ids, i.id, i.external_id::text, i.metadata::text
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
    SELECT it.id, it.external_id, it.metadata FROM identities it WHERE it.id = k.identity_id LIMIT 1
  ) i ON true
  WHERE k.hash = p_hash;
END;
$$;
