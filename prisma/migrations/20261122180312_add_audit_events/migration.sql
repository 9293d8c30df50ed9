-- CreateTable
CREATE TABLE "audit_events" (
    "id" UUID NOT NULL,
    "merchant_id" VARCHAR(128) NOT NULL,
    "actor" VARCHAR(256),
    "action" VARCHAR(64) NOT NULL,
    "target_type" VARCHAR(32) NOT NULL,
    "target_id" UUID NOT NULL,
    "request_id" VARCHAR(128),
    "client_ip" VARCHAR(45),
    "summary" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "audit_events_merchant_id_id_idx" ON "audit_events"("merchant_id", "id");

-- CreateIndex
CREATE INDEX "audit_events_merchant_id_action_id_idx" ON "audit_events"("merchant_id", "action", "id");

-- CreateIndex
CREATE INDEX "audit_events_merchant_id_target_id_id_idx" ON "audit_events"("merchant_id", "target_id", "id");

-- AddForeignKey
ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_merchant_id_fkey" FOREIGN KEY ("merchant_id") REFERENCES "merchants"("id") ON DELETE CASCADE ON UPDATE CASCADE;
