-- CreateTable
CREATE TABLE "key_usage_notices" (
    "key_id" UUID NOT NULL,
    "epoch" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "key_usage_notices_pkey" PRIMARY KEY ("key_id","epoch")
);

-- AddForeignKey
ALTER TABLE "key_usage_notices" ADD CONSTRAINT "key_usage_notices_key_id_fkey" FOREIGN KEY ("key_id") REFERENCES "api_keys"("id") ON DELETE CASCADE ON UPDATE CASCADE;
