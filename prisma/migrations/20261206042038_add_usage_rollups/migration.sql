-- CreateTable
CREATE TABLE "application_usage" (
    "application_id" UUID NOT NULL,
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "code" VARCHAR(32) NOT NULL,
    "count" BIGINT NOT NULL,

    CONSTRAINT "application_usage_pkey" PRIMARY KEY ("application_id","hour","code")
);

-- CreateTable
CREATE TABLE "merchant_usage" (
    "merchant_id" VARCHAR(128) NOT NULL,
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "code" VARCHAR(32) NOT NULL,
    "count" BIGINT NOT NULL,

    CONSTRAINT "merchant_usage_pkey" PRIMARY KEY ("merchant_id","hour","code")
);

-- CreateIndex
CREATE INDEX "application_usage_hour_idx" ON "application_usage"("hour");

-- CreateIndex
CREATE INDEX "merchant_usage_hour_idx" ON "merchant_usage"("hour");

-- AddForeignKey
ALTER TABLE "application_usage" ADD CONSTRAINT "application_usage_application_id_fkey" FOREIGN KEY ("application_id") REFERENCES "applications"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "merchant_usage" ADD CONSTRAINT "merchant_usage_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Backfill: what key_usage holds now, added up per application and per merchant.
INSERT INTO "application_usage" ("application_id", "hour", "code", "count")
SELECT k."application_id", u."hour", u."code", sum(u."count")
FROM "key_usage" u JOIN "api_keys" k ON k."id" = u."key_id"
GROUP BY 1, 2, 3;

INSERT INTO "merchant_usage" ("merchant_id", "hour", "code", "count")
SELECT k."merchant_id", u."hour", u."code", sum(u."count")
FROM "key_usage" u JOIN "api_keys" k ON k."id" = u."key_id"
GROUP BY 1, 2, 3;
