-- CreateTable
CREATE TABLE "leak_findings" (
    "id" CHAR(64) NOT NULL,
    "key_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "leak_findings_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "leak_findings_key_id_idx" ON "leak_findings"("key_id");

-- AddForeignKey
ALTER TABLE "leak_findings" ADD CONSTRAINT "leak_findings_key_id_fkey" FOREIGN KEY ("key_id") REFERENCES "api_keys"("id") ON DELETE CASCADE ON UPDATE CASCADE;
