-- AlterTable
ALTER TABLE "key_policies" ADD COLUMN     "anomaly_responses" JSONB NOT NULL DEFAULT '{}',
ALTER COLUMN "rules" DROP NOT NULL;

-- AlterTable
ALTER TABLE "merchants" DROP COLUMN "anomaly_responses";
