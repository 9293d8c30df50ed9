-- CreateEnum
CREATE TYPE "AnomalyKind" AS ENUM ('NEW_NETWORK', 'MANY_NETWORKS', 'VOLUME_SPIKE', 'REFUSAL_BURST');

-- CreateEnum
CREATE TYPE "AnomalyResponse" AS ENUM ('NOTIFY', 'DISABLE');

-- AlterTable
ALTER TABLE "merchants" ADD COLUMN     "anomaly_responses" JSONB NOT NULL DEFAULT '{}';

-- CreateTable
CREATE TABLE "key_observations" (
    "key_id" UUID NOT NULL,
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "read_count" INTEGER NOT NULL DEFAULT 0,
    "write_count" INTEGER NOT NULL DEFAULT 0,
    "scopes" JSONB NOT NULL DEFAULT '{}',
    "valid_networks" JSONB NOT NULL DEFAULT '{}',
    "refused_networks" JSONB NOT NULL DEFAULT '{}',

    CONSTRAINT "key_observations_pkey" PRIMARY KEY ("key_id","hour")
);

-- CreateTable
CREATE TABLE "key_anomalies" (
    "id" UUID NOT NULL,
    "merchant_id" VARCHAR(128) NOT NULL,
    "key_id" UUID NOT NULL,
    "kind" "AnomalyKind" NOT NULL,
    "subject" VARCHAR(64) NOT NULL,
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "details" JSONB NOT NULL,
    "response" "AnomalyResponse" NOT NULL,
    "detected_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "key_anomalies_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "key_observations_hour_idx" ON "key_observations"("hour");

-- CreateIndex
CREATE INDEX "key_anomalies_merchant_id_id_idx" ON "key_anomalies"("merchant_id", "id");

-- CreateIndex
CREATE INDEX "key_anomalies_key_id_id_idx" ON "key_anomalies"("key_id", "id");

-- CreateIndex
CREATE UNIQUE INDEX "key_anomalies_key_id_kind_subject_key" ON "key_anomalies"("key_id", "kind", "subject");

-- AddForeignKey
ALTER TABLE "key_observations" ADD CONSTRAINT "key_observations_key_id_fkey" FOREIGN KEY ("key_id") REFERENCES "api_keys"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "key_anomalies" ADD CONSTRAINT "key_anomalies_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "key_anomalies" ADD CONSTRAINT "key_anomalies_key_id_fkey" FOREIGN KEY ("key_id") REFERENCES "api_keys"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Adds two JSON objects of counts key by key ({"a": 1} + {"a": 2, "b": 1} = {"a": 3, "b": 1}),
-- keeping at most `keep` keys (the largest counts): a key seen from a million addresses in an hour
-- still has a bounded row.
CREATE FUNCTION keygate_add_counts(a jsonb, b jsonb, keep int) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT COALESCE(jsonb_object_agg(key, total), '{}'::jsonb) FROM (
    SELECT key, sum(value::bigint) AS total
    FROM (SELECT * FROM jsonb_each_text(a) UNION ALL SELECT * FROM jsonb_each_text(b)) AS e
    GROUP BY key ORDER BY total DESC, key LIMIT keep
  ) AS summed
$$;
