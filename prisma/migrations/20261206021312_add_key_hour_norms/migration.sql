-- CreateTable
CREATE TABLE "key_hour_norms" (
    "key_id" UUID NOT NULL,
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "first_hour" TIMESTAMPTZ(3) NOT NULL,
    "networks_norm" DOUBLE PRECISION NOT NULL,
    "volume_norm" DOUBLE PRECISION NOT NULL,
    "refused_norm" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "key_hour_norms_pkey" PRIMARY KEY ("key_id","hour")
);

-- CreateIndex
CREATE INDEX "key_hour_norms_hour_idx" ON "key_hour_norms"("hour");

-- AddForeignKey
ALTER TABLE "key_hour_norms" ADD CONSTRAINT "key_hour_norms_key_id_fkey" FOREIGN KEY ("key_id") REFERENCES "api_keys"("id") ON DELETE CASCADE ON UPDATE CASCADE;
