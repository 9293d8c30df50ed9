-- CreateTable
CREATE TABLE "key_usage" (
    "key_id" UUID NOT NULL,
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "code" VARCHAR(32) NOT NULL,
    "count" INTEGER NOT NULL,

    CONSTRAINT "key_usage_pkey" PRIMARY KEY ("key_id","hour","code")
);

-- CreateTable
CREATE TABLE "key_refusals" (
    "id" UUID NOT NULL,
    "key_id" UUID NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "code" VARCHAR(32) NOT NULL,
    "client_ip" VARCHAR(45),

    CONSTRAINT "key_refusals_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "key_usage_hour_idx" ON "key_usage"("hour");

-- CreateIndex
CREATE INDEX "key_refusals_key_id_at_idx" ON "key_refusals"("key_id", "at" DESC);

-- AddForeignKey
ALTER TABLE "key_usage" ADD CONSTRAINT "key_usage_key_id_fkey" FOREIGN KEY ("key_id") REFERENCES "api_keys"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "key_refusals" ADD CONSTRAINT "key_refusals_key_id_fkey" FOREIGN KEY ("key_id") REFERENCES "api_keys"("id") ON DELETE CASCADE ON UPDATE CASCADE;
