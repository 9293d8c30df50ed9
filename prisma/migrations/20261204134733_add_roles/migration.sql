-- CreateTable
CREATE TABLE "roles" (
    "id" UUID NOT NULL,
    "merchant_id" VARCHAR(128) NOT NULL,
    "name" VARCHAR(100) NOT NULL,
    "normalized_name" TEXT NOT NULL,
    "description" VARCHAR(500),
    "scopes" TEXT[],
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "roles_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "key_roles" (
    "key_id" UUID NOT NULL,
    "role_id" UUID NOT NULL,
    "merchant_id" VARCHAR(128) NOT NULL,

    CONSTRAINT "key_roles_pkey" PRIMARY KEY ("key_id","role_id")
);

-- CreateIndex
CREATE INDEX "roles_merchant_id_id_idx" ON "roles"("merchant_id", "id");

-- CreateIndex
CREATE UNIQUE INDEX "roles_merchant_id_normalized_name_key" ON "roles"("merchant_id", "normalized_name");

-- CreateIndex
CREATE UNIQUE INDEX "roles_id_merchant_id_key" ON "roles"("id", "merchant_id");

-- CreateIndex
CREATE INDEX "key_roles_role_id_key_id_idx" ON "key_roles"("role_id", "key_id");

-- AddForeignKey
ALTER TABLE "roles" ADD CONSTRAINT "roles_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "key_roles" ADD CONSTRAINT "key_roles_key_id_merchant_id_fkey" FOREIGN KEY ("key_id", "merchant_id") REFERENCES "api_keys"("id", "merchant_id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "key_roles" ADD CONSTRAINT "key_roles_role_id_merchant_id_fkey" FOREIGN KEY ("role_id", "merchant_id") REFERENCES "roles"("id", "merchant_id") ON DELETE CASCADE ON UPDATE CASCADE;

-- A key's verification record now carries its effective scopes (its own plus its roles', each
-- once) and the ids of its roles, so that caches can drop every key of a role that changed.
-- A key without roles reads exactly as before. New output column: the function is replaced.
DROP FUNCTION keygate_load_key(bpchar);
CREATE FUNCTION keygate_load_key(p_hash bpchar)
RETURNS TABLE (
  id uuid, prefix text, application_id uuid, merchant_id text, environment text, access text,
  scopes text[], expires_at timestamptz, revoked boolean, key_enabled boolean, enabled boolean,
  metadata text, external_id text, ip_default_action text, meter_id uuid, has_credits boolean,
  refill_interval text, refill_day integer, credits_epoch integer, rate_limits jsonb, ip_rules json,
  role_ids text[]
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
         rl.ids
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
  WHERE k.hash = p_hash;
END;
$$;
