-- CreateTable
CREATE TABLE "verifier_usage_reporters" (
    "reporter" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "verifier_usage_reporters_pkey" PRIMARY KEY ("reporter")
);

-- CreateIndex
CREATE INDEX "verifier_usage_reporters_updated_at_idx" ON "verifier_usage_reporters"("updated_at");
