-- Hourly usage counts and observations, partitioned by UTC day (native range partitions on
-- "hour"): the retention job drops a day whole instead of deleting its rows one by one, and a
-- query for a range of hours reads only the days it covers. Keygate creates each day's partition
-- ahead (keygate_day_partition); a row for a day without one lands in the DEFAULT partition and is
-- moved to its day when that day's partition is created.
--
-- Existing rows are copied into the new partitioned tables in this migration's transaction: a
-- day's partition for every day that has rows, then every row, then the old table is dropped.

-- Creates `parent`'s partition for one UTC day, named <parent>_pYYYYMMDD, unless it exists:
-- the day's rows are first moved out of the DEFAULT partition (a partition cannot be attached
-- over rows the default holds), and the table is ATTACHed (which, unlike CREATE … PARTITION OF,
-- does not block writes to the parent). Answers whether it created one.
CREATE FUNCTION keygate_day_partition(parent text, day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  partition text := parent || '_p' || to_char(day, 'YYYYMMDD');
  lower timestamptz := day::timestamp AT TIME ZONE 'UTC';
  upper timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
  IF to_regclass(partition) IS NOT NULL THEN
    RETURN false;
  END IF;
  EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS)', partition, parent);
  EXECUTE format(
    'WITH moved AS (DELETE FROM %I WHERE hour >= %L AND hour < %L RETURNING *) INSERT INTO %I SELECT * FROM moved',
    parent || '_default', lower, upper, partition);
  EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', parent, partition, lower, upper);
  RETURN true;
END
$$;

-- key_usage
ALTER TABLE "key_usage" RENAME TO "key_usage_unpartitioned";
ALTER TABLE "key_usage_unpartitioned" RENAME CONSTRAINT "key_usage_pkey" TO "key_usage_unpartitioned_pkey";
ALTER TABLE "key_usage_unpartitioned" RENAME CONSTRAINT "key_usage_key_id_fkey" TO "key_usage_unpartitioned_key_id_fkey";
ALTER INDEX "key_usage_hour_idx" RENAME TO "key_usage_unpartitioned_hour_idx";

CREATE TABLE "key_usage" (
    "key_id" UUID NOT NULL,
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "code" VARCHAR(32) NOT NULL,
    "count" INTEGER NOT NULL,

    CONSTRAINT "key_usage_pkey" PRIMARY KEY ("key_id","hour","code")
) PARTITION BY RANGE ("hour");
CREATE INDEX "key_usage_hour_idx" ON "key_usage"("hour");
ALTER TABLE "key_usage" ADD CONSTRAINT "key_usage_key_id_fkey" FOREIGN KEY ("key_id") REFERENCES "api_keys"("id") ON DELETE CASCADE ON UPDATE CASCADE;
CREATE TABLE "key_usage_default" PARTITION OF "key_usage" DEFAULT;

SELECT keygate_day_partition('key_usage', day)
FROM (SELECT DISTINCT ("hour" AT TIME ZONE 'UTC')::date AS day FROM "key_usage_unpartitioned") AS days;
INSERT INTO "key_usage" ("key_id", "hour", "code", "count")
SELECT "key_id", "hour", "code", "count" FROM "key_usage_unpartitioned";
DROP TABLE "key_usage_unpartitioned";

-- key_observations
ALTER TABLE "key_observations" RENAME TO "key_observations_unpartitioned";
ALTER TABLE "key_observations_unpartitioned" RENAME CONSTRAINT "key_observations_pkey" TO "key_observations_unpartitioned_pkey";
ALTER TABLE "key_observations_unpartitioned" RENAME CONSTRAINT "key_observations_key_id_fkey" TO "key_observations_unpartitioned_key_id_fkey";
ALTER INDEX "key_observations_hour_idx" RENAME TO "key_observations_unpartitioned_hour_idx";

CREATE TABLE "key_observations" (
    "key_id" UUID NOT NULL,
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "read_count" INTEGER NOT NULL DEFAULT 0,
    "write_count" INTEGER NOT NULL DEFAULT 0,
    "scopes" JSONB NOT NULL DEFAULT '{}',
    "valid_networks" JSONB NOT NULL DEFAULT '{}',
    "refused_networks" JSONB NOT NULL DEFAULT '{}',

    CONSTRAINT "key_observations_pkey" PRIMARY KEY ("key_id","hour")
) PARTITION BY RANGE ("hour");
CREATE INDEX "key_observations_hour_idx" ON "key_observations"("hour");
ALTER TABLE "key_observations" ADD CONSTRAINT "key_observations_key_id_fkey" FOREIGN KEY ("key_id") REFERENCES "api_keys"("id") ON DELETE CASCADE ON UPDATE CASCADE;
CREATE TABLE "key_observations_default" PARTITION OF "key_observations" DEFAULT;

SELECT keygate_day_partition('key_observations', day)
FROM (SELECT DISTINCT ("hour" AT TIME ZONE 'UTC')::date AS day FROM "key_observations_unpartitioned") AS days;
INSERT INTO "key_observations" ("key_id", "hour", "read_count", "write_count", "scopes", "valid_networks", "refused_networks")
SELECT "key_id", "hour", "read_count", "write_count", "scopes", "valid_networks", "refused_networks"
FROM "key_observations_unpartitioned";
DROP TABLE "key_observations_unpartitioned";
