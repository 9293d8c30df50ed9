-- CreateEnum
CREATE TYPE "KeyAccess" AS ENUM ('READ_ONLY', 'FULL_ACCESS');

-- CreateEnum
CREATE TYPE "KeyEnvironment" AS ENUM ('LIVE', 'TEST');

-- CreateEnum
CREATE TYPE "IpAction" AS ENUM ('ALLOW', 'DENY');

-- CreateTable
CREATE TABLE "merchants" (
    "id" VARCHAR(128) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "merchants_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "applications" (
    "id" UUID NOT NULL,
    "merchant_id" VARCHAR(128) NOT NULL,
    "name" VARCHAR(100) NOT NULL,
    "normalized_name" TEXT NOT NULL,
    "description" VARCHAR(500),
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "applications_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_keys" (
    "id" UUID NOT NULL,
    "merchant_id" VARCHAR(128) NOT NULL,
    "application_id" UUID NOT NULL,
    "name" VARCHAR(100) NOT NULL,
    "website_url" VARCHAR(2048),
    "prefix" VARCHAR(32) NOT NULL,
    "hash" CHAR(64) NOT NULL,
    "access" "KeyAccess" NOT NULL,
    "scopes" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "environment" "KeyEnvironment" NOT NULL,
    "expires_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),
    "last_used_at" TIMESTAMPTZ(3),
    "last_used_ip" VARCHAR(45),
    "ip_default_action" "IpAction" NOT NULL DEFAULT 'ALLOW',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ip_rules" (
    "id" UUID NOT NULL,
    "key_id" UUID NOT NULL,
    "position" INTEGER NOT NULL,
    "cidr" VARCHAR(64) NOT NULL,
    "action" "IpAction" NOT NULL,

    CONSTRAINT "ip_rules_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "applications_merchant_id_id_idx" ON "applications"("merchant_id", "id");

-- CreateIndex
CREATE UNIQUE INDEX "applications_merchant_id_normalized_name_key" ON "applications"("merchant_id", "normalized_name");

-- CreateIndex
CREATE UNIQUE INDEX "applications_id_merchant_id_key" ON "applications"("id", "merchant_id");

-- CreateIndex
CREATE UNIQUE INDEX "api_keys_hash_key" ON "api_keys"("hash");

-- CreateIndex
CREATE INDEX "api_keys_application_id_id_idx" ON "api_keys"("application_id", "id");

-- CreateIndex
CREATE INDEX "api_keys_merchant_id_id_idx" ON "api_keys"("merchant_id", "id");

-- CreateIndex
CREATE INDEX "api_keys_merchant_id_prefix_idx" ON "api_keys"("merchant_id", "prefix");

-- CreateIndex
CREATE UNIQUE INDEX "api_keys_id_merchant_id_key" ON "api_keys"("id", "merchant_id");

-- CreateIndex
CREATE UNIQUE INDEX "ip_rules_key_id_position_key" ON "ip_rules"("key_id", "position");

-- AddForeignKey
ALTER TABLE "applications" ADD CONSTRAINT "applications_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_application_id_merchant_id_fkey" FOREIGN KEY ("application_id", "merchant_id") REFERENCES "applications"("id", "merchant_id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ip_rules" ADD CONSTRAINT "ip_rules_key_id_fkey" FOREIGN KEY ("key_id") REFERENCES "api_keys"("id") ON DELETE CASCADE ON UPDATE CASCADE;
