-- CreateEnum
CREATE TYPE "RefillInterval" AS ENUM ('DAILY', 'MONTHLY');

-- AlterTable
ALTER TABLE "api_keys" ADD COLUMN     "credits_epoch" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "credits_remaining" INTEGER,
ADD COLUMN     "credits_reserved" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "rate_limits" JSONB NOT NULL DEFAULT '[]',
ADD COLUMN     "refill_amount" INTEGER,
ADD COLUMN     "refill_day" INTEGER,
ADD COLUMN     "refill_interval" "RefillInterval",
ADD COLUMN     "refilled_at" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "rate_limit_windows" (
    "key_id" UUID NOT NULL,
    "name" VARCHAR(64) NOT NULL,
    "window_start" TIMESTAMPTZ(3) NOT NULL,
    "window_end" TIMESTAMPTZ(3) NOT NULL,
    "used" INTEGER NOT NULL,

    CONSTRAINT "rate_limit_windows_pkey" PRIMARY KEY ("key_id","name","window_start")
);

-- CreateIndex
CREATE INDEX "rate_limit_windows_window_end_idx" ON "rate_limit_windows"("window_end");

-- AddForeignKey
ALTER TABLE "rate_limit_windows" ADD CONSTRAINT "rate_limit_windows_key_id_fkey" FOREIGN KEY ("key_id") REFERENCES "api_keys"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Credits are never negative, and never reserved below nothing.
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_credits_check" CHECK ("credits_remaining" >= 0 AND "credits_reserved" >= 0);

-- The latest refill boundary at or before `at`: UTC midnight for DAILY; for MONTHLY, midnight
-- of the refill day (the month's last day when the month is shorter). The same rule as
-- refillDue in @keygate/core; a test holds the two equal.
CREATE FUNCTION keygate_refill_due(refill_interval text, refill_day int, at timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
  SELECT (CASE
      WHEN refill_interval = 'DAILY' THEN date_trunc('day', b.utc)
      WHEN b.this_boundary <= b.utc THEN b.this_boundary
      ELSE b.last_boundary
    END) AT TIME ZONE 'UTC'
  FROM (
    SELECT m.utc,
      m.this_month + (LEAST(COALESCE(refill_day, 1),
        extract(day FROM m.this_month + interval '1 month' - interval '1 day')::int) - 1) * interval '1 day' AS this_boundary,
      m.last_month + (LEAST(COALESCE(refill_day, 1),
        extract(day FROM m.last_month + interval '1 month' - interval '1 day')::int) - 1) * interval '1 day' AS last_boundary
    FROM (
      SELECT at AT TIME ZONE 'UTC' AS utc,
        date_trunc('month', at AT TIME ZONE 'UTC') AS this_month,
        date_trunc('month', at AT TIME ZONE 'UTC') - interval '1 month' AS last_month
    ) AS m
  ) AS b
$$;

-- The first refill boundary after `at`.
CREATE FUNCTION keygate_next_refill(refill_interval text, refill_day int, at timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN refill_interval = 'DAILY' THEN keygate_refill_due(refill_interval, refill_day, at) + interval '1 day'
    -- The boundary of the month after the current one: the latest boundary by that month's end.
    ELSE keygate_refill_due(refill_interval, refill_day,
      (date_trunc('month', keygate_refill_due(refill_interval, refill_day, at) AT TIME ZONE 'UTC')
        + interval '2 month' - interval '1 millisecond') AT TIME ZONE 'UTC')
  END
$$;

-- Hands out reservations of one key's metering to an instance: one round trip, under the key's
-- row lock, so that concurrent instances never hand out more than exists.
--   p_credits  {"need": n, "want": w}, or null when no credits are wanted
--   p_limits   [{"name", "need", "want"}], one per rate limit wanted
-- Credits: a due refill is applied first (the pool becomes the refill amount; the epoch is bumped,
-- which voids every reservation of the period before), then LEAST(pool, GREATEST(need,
-- LEAST(want, ⌈pool / 8⌉))) is taken: reservations shrink as the pool runs out, so instances hold
-- little of what is left. Rate limits, each in its current fixed window (aligned to the Unix
-- epoch): LEAST(room, GREATEST(need, LEAST(want, ⌈room / 4⌉))). The limits themselves are read
-- here, from the key, never taken from the caller.
-- Returns {"credits": {taken, left, epoch, validUntil} | null, "limits": [{name, limit, windowMs,
-- windowStart, taken, left}]}, or null when the key is revoked or gone.
CREATE FUNCTION keygate_meter_take(p_key uuid, p_now timestamptz, p_credits jsonb, p_limits jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  k record;
  v_due timestamptz;
  v_pool int;
  v_taken int;
  v_credits jsonb := NULL;
  v_limits jsonb := '[]'::jsonb;
  v_request jsonb;
  v_config jsonb;
  v_limit int;
  v_window_ms bigint;
  v_start timestamptz;
  v_used int;
  v_room int;
BEGIN
  SELECT a.credits_remaining, a.refill_amount, a.refill_interval::text AS refill_interval, a.refill_day,
         a.refilled_at, a.credits_epoch, a.rate_limits
    INTO k FROM api_keys a WHERE a.id = p_key AND a.revoked_at IS NULL FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;

  IF p_credits IS NOT NULL AND k.credits_remaining IS NOT NULL THEN
    v_pool := k.credits_remaining;
    IF k.refill_interval IS NOT NULL THEN
      v_due := keygate_refill_due(k.refill_interval, k.refill_day, p_now);
      IF k.refilled_at IS NULL OR k.refilled_at < v_due THEN
        v_pool := k.refill_amount;
        k.credits_epoch := k.credits_epoch + 1;
        UPDATE api_keys SET refilled_at = v_due, credits_epoch = k.credits_epoch, credits_reserved = 0
          WHERE id = p_key;
      END IF;
    END IF;
    v_taken := LEAST(v_pool, GREATEST((p_credits->>'need')::int, LEAST((p_credits->>'want')::int, (v_pool + 7) / 8)));
    UPDATE api_keys SET credits_remaining = v_pool - v_taken, credits_reserved = credits_reserved + v_taken
      WHERE id = p_key;
    v_credits := jsonb_build_object(
      'taken', v_taken,
      'left', v_pool - v_taken,
      'epoch', k.credits_epoch,
      'validUntil', CASE WHEN k.refill_interval IS NULL THEN NULL
        ELSE (extract(epoch FROM keygate_next_refill(k.refill_interval, k.refill_day, p_now)) * 1000)::bigint END);
  END IF;

  FOR v_request IN SELECT value FROM jsonb_array_elements(COALESCE(p_limits, '[]'::jsonb)) LOOP
    SELECT value INTO v_config FROM jsonb_array_elements(k.rate_limits) WHERE value->>'name' = v_request->>'name';
    CONTINUE WHEN v_config IS NULL;
    v_limit := (v_config->>'limit')::int;
    v_window_ms := (v_config->>'windowSeconds')::bigint * 1000;
    v_start := to_timestamp((floor(extract(epoch FROM p_now) * 1000 / v_window_ms) * v_window_ms / 1000)::float8);
    SELECT w.used INTO v_used FROM rate_limit_windows w
      WHERE w.key_id = p_key AND w.name = v_request->>'name' AND w.window_start = v_start;
    v_room := GREATEST(0, v_limit - COALESCE(v_used, 0));
    v_taken := LEAST(v_room,
      GREATEST((v_request->>'need')::int, LEAST((v_request->>'want')::int, (v_room + 3) / 4)));
    IF v_taken > 0 THEN
      INSERT INTO rate_limit_windows (key_id, name, window_start, window_end, used)
        VALUES (p_key, v_request->>'name', v_start, v_start + v_window_ms * interval '1 millisecond', v_taken)
        ON CONFLICT (key_id, name, window_start) DO UPDATE SET used = rate_limit_windows.used + v_taken;
    END IF;
    v_limits := v_limits || jsonb_build_object(
      'name', v_request->>'name',
      'limit', v_limit,
      'windowMs', v_window_ms,
      'windowStart', (extract(epoch FROM v_start) * 1000)::bigint,
      'taken', v_taken,
      'left', v_room - v_taken);
  END LOOP;

  RETURN jsonb_build_object('credits', v_credits, 'limits', v_limits);
END
$$;
