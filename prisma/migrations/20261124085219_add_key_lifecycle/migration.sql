-- AlterTable
ALTER TABLE "api_keys" ADD COLUMN     "enabled" BOOLEAN NOT NULL DEFAULT true,
ADD COLUMN     "external_id" VARCHAR(255),
ADD COLUMN     "metadata" JSON,
ADD COLUMN     "rolled_from_id" UUID;

-- CreateIndex
CREATE UNIQUE INDEX "api_keys_rolled_from_id_key" ON "api_keys"("rolled_from_id");

-- CreateIndex
CREATE INDEX "api_keys_application_id_external_id_idx" ON "api_keys"("application_id", "external_id");

-- AddForeignKey
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_rolled_from_id_fkey" FOREIGN KEY ("rolled_from_id") REFERENCES "api_keys"("id") ON DELETE SET NULL ON UPDATE CASCADE;
