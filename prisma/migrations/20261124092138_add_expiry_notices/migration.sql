-- CreateTable
CREATE TABLE "key_expiry_notices" (
    "key_id" UUID NOT NULL,
    "threshold_seconds" INTEGER NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "key_expiry_notices_pkey" PRIMARY KEY ("key_id","threshold_seconds","expires_at")
);

-- AddForeignKey
ALTER TABLE "key_expiry_notices" ADD CONSTRAINT "key_expiry_notices_key_id_fkey" FOREIGN KEY ("key_id") REFERENCES "api_keys"("id") ON DELETE CASCADE ON UPDATE CASCADE;
