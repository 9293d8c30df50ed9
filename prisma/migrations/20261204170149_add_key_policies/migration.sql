-- CreateTable
CREATE TABLE "key_policies" (
    "merchant_id" VARCHAR(128) NOT NULL,
    "id" UUID NOT NULL,
    "rules" JSONB NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "key_policies_pkey" PRIMARY KEY ("merchant_id")
);

-- CreateIndex
CREATE UNIQUE INDEX "key_policies_id_key" ON "key_policies"("id");

-- AddForeignKey
ALTER TABLE "key_policies" ADD CONSTRAINT "key_policies_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE;
