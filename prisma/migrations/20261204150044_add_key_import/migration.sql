-- AlterTable
ALTER TABLE "api_keys" ADD COLUMN     "imported" BOOLEAN NOT NULL DEFAULT false;

-- CreateTable
CREATE TABLE "import_prefixes" (
    "id" UUID NOT NULL,
    "merchant_id" VARCHAR(128) NOT NULL,
    "prefix" VARCHAR(32) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "import_prefixes_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "import_prefixes_prefix_idx" ON "import_prefixes"("prefix");

-- CreateIndex
CREATE UNIQUE INDEX "import_prefixes_merchant_id_prefix_key" ON "import_prefixes"("merchant_id", "prefix");

-- AddForeignKey
ALTER TABLE "import_prefixes" ADD CONSTRAINT "import_prefixes_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE;
