import * as Duration from "effect/Duration"
import * as PgMigrations from "../PgMigrations.js"

/** @internal */
export const component = "quota-ledger"

/** @internal */
export const defaultSchema = "vt_harvest"

/** How long a question to the ledger or the claims may go unanswered (`PgQuotaLedger.defaultTimeout`). @internal */
export const defaultTimeout: Duration.Duration = Duration.seconds(15)

/** @internal */
export interface LedgerRow {
  readonly ledger: string
  readonly requests: string
  readonly last_start: string | null
  readonly paused_until: string
  readonly paused_after: string
  readonly refusals: number
  readonly hour: string
  readonly this_hour: string
  readonly day: string
  readonly today: string
  readonly month: string
  readonly this_month: string
}

/** @internal */
export interface TakeRow {
  readonly granted: boolean
  readonly sequence: string
  readonly refusals: number
  readonly wait_ms: string
  readonly until_ms: string
  readonly reason: string | null
}

/**
 * The statements the ledger and the claims run: each one call of a function, one round trip. The last parameter of
 * each is the time (`NULL`: the database's clock).
 *
 * @internal
 */
export const names = (schema: string) => {
  const q = (name: string) => PgMigrations.qualified(schema, name)
  return {
    secret: q("quota_secret"),
    take: `SELECT granted, seq AS sequence, refusals_in_row AS refusals, wait_ms, until_ms, reason
FROM ${q("quota_take")}($1, $2, $3, $4, $5, $6)`,
    refused: `SELECT fresh, refusals_in_row AS refusals FROM ${q("quota_refused")}($1, $2, $3, $4, $5)`,
    extend: `SELECT ${q("quota_extend")}($1, $2, $3, $4)`,
    answered: `SELECT ${q("quota_answered")}($1, $2, $3)`,
    learn: `SELECT ${q("quota_learn")}($1, $2, $3, $4, $5)`,
    read: `SELECT * FROM ${q("quota_read")}($1, $2)`,
    claim: `SELECT claimed, holder, expires_in FROM ${q("claim")}($1, $2, $3, $4, $5)`,
    release: `DELETE FROM ${q("claims")} WHERE scope = $1 AND key = $2 AND owner = $3`,
    renew: `UPDATE ${q("claims")} SET expires_at = ${q("quota_now")}($3) + $2 WHERE owner = $1`
  }
}

/**
 * The ledger's tables and functions. The functions are `GateState`'s rules (`SharedLedger.take` and friends) on
 * one row, under a row lock; `test/PgQuotaLedger.test.ts` runs both on the same random sequences.
 *
 * @internal
 */
export const migrations = (schema: string): ReadonlyArray<PgMigrations.Migration> => {
  const q = (name: string) => PgMigrations.qualified(schema, name)
  const ledger = q("quota_ledger")
  const now = q("quota_now")
  const month = q("quota_month")
  const nextMonth = q("quota_next_month")
  const roll = q("quota_roll")
  // A key's row, made the first time it is used (counting nothing, in the current hour, day and month).
  const insertRow = `INSERT INTO ${ledger} (ledger, hour, day, month)
  VALUES (p_ledger, floor(now_ms / 3600000.0), floor(now_ms / 86400000.0), ${month}(now_ms))
  ON CONFLICT (ledger) DO NOTHING;`
  // The end of a pause: `p_for` milliseconds from now, or the instant `p_until`.
  const pauseEnd = "coalesce(now_ms + p_for, p_until)"
  // The gate's rules for a request that wants to start (version 2: a clock set back costs at most the spacing).
  const takeFunction = `CREATE OR REPLACE FUNCTION ${q("quota_take")}(
  p_ledger text, p_spacing bigint, p_per_hour bigint, p_per_day bigint, p_per_month bigint, p_now bigint
) RETURNS TABLE (granted boolean, seq bigint, refusals_in_row integer, wait_ms bigint, until_ms bigint, reason text)
LANGUAGE plpgsql AS $fn$
DECLARE
  now_ms bigint := ${now}(p_now);
  r ${ledger};
  w bigint := 0;
  why text := NULL;
  c bigint;
BEGIN
  ${insertRow}
  SELECT * INTO r FROM ${ledger} l WHERE l.ledger = p_ledger FOR UPDATE;
  r := ${roll}(r, now_ms);
  c := r.paused_until - now_ms;
  IF c > w THEN w := c; why := 'paused'; END IF;
  IF r.last_start IS NOT NULL AND p_spacing > 0 THEN
    c := least(r.last_start, now_ms) + p_spacing - now_ms;
    IF c > w THEN w := c; why := 'spacing'; END IF;
  END IF;
  IF p_per_hour IS NOT NULL AND r.this_hour >= p_per_hour THEN
    c := (r.hour + 1) * 3600000 - now_ms;
    IF c > w THEN w := c; why := 'hour'; END IF;
  END IF;
  IF p_per_day IS NOT NULL AND r.today >= p_per_day THEN
    c := (r.day + 1) * 86400000 - now_ms;
    IF c > w THEN w := c; why := 'day'; END IF;
  END IF;
  IF p_per_month IS NOT NULL AND r.this_month >= p_per_month THEN
    c := ${nextMonth}(now_ms) - now_ms;
    IF c > w THEN w := c; why := 'month'; END IF;
  END IF;
  IF w > 0 THEN
    UPDATE ${ledger} l SET hour = r.hour, this_hour = r.this_hour, day = r.day, today = r.today, month = r.month,
      this_month = r.this_month, last_start = least(r.last_start, now_ms)
    WHERE l.ledger = p_ledger;
    RETURN QUERY SELECT false, r.requests, r.refusals, w, now_ms + w, why;
    RETURN;
  END IF;
  UPDATE ${ledger} l SET requests = r.requests + 1, last_start = now_ms, hour = r.hour, this_hour = r.this_hour + 1,
    day = r.day, today = r.today + 1, month = r.month, this_month = r.this_month + 1, updated_at = now()
  WHERE l.ledger = p_ledger;
  RETURN QUERY SELECT true, r.requests + 1, r.refusals, 0::bigint, now_ms, NULL::text;
END
$fn$`
  return [{
    version: 1,
    description: `the quota ledger and the claims in ${schema}`,
    statements: [
      `CREATE TABLE IF NOT EXISTS ${q("quota_secret")} (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  secret bytea NOT NULL
)`,
      `COMMENT ON TABLE ${
        q("quota_secret")
      } IS 'vt-harvest: the secret under which API keys are hashed to name their ledger row'`,
      `CREATE TABLE IF NOT EXISTS ${ledger} (
  ledger text PRIMARY KEY,
  requests bigint NOT NULL DEFAULT 0,
  last_start bigint,
  paused_until bigint NOT NULL DEFAULT 0,
  paused_after bigint NOT NULL DEFAULT 0,
  refusals integer NOT NULL DEFAULT 0,
  hour bigint NOT NULL DEFAULT 0,
  this_hour bigint NOT NULL DEFAULT 0,
  day bigint NOT NULL DEFAULT 0,
  today bigint NOT NULL DEFAULT 0,
  month bigint NOT NULL DEFAULT 0,
  this_month bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now()
)`,
      `COMMENT ON TABLE ${ledger} IS 'vt-harvest: one row per API key (named by an HMAC of the key): request starts, UTC hour/day/month counts, the pause after a refusal; times in epoch milliseconds'`,
      `CREATE TABLE IF NOT EXISTS ${q("claims")} (
  scope text NOT NULL,
  key text NOT NULL,
  owner text NOT NULL,
  expires_at bigint NOT NULL,
  PRIMARY KEY (scope, key)
)`,
      `COMMENT ON TABLE ${
        q("claims")
      } IS 'vt-harvest: ids in flight (scope: the command and the store), each held by one process until it expires'`,
      `CREATE INDEX IF NOT EXISTS claims_owner ON ${q("claims")} (owner)`,
      `CREATE OR REPLACE FUNCTION ${now}(p_now bigint) RETURNS bigint LANGUAGE sql VOLATILE AS $fn$
  SELECT coalesce(p_now, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint)
$fn$`,
      `CREATE OR REPLACE FUNCTION ${month}(ms bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS $fn$
  SELECT (extract(year FROM t) * 12 + extract(month FROM t) - 1)::bigint
  FROM (SELECT to_timestamp(ms / 1000.0) AT TIME ZONE 'UTC' AS t) x
$fn$`,
      `CREATE OR REPLACE FUNCTION ${nextMonth}(ms bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS $fn$
  SELECT (extract(epoch FROM (date_trunc('month', to_timestamp(ms / 1000.0) AT TIME ZONE 'UTC') + interval '1 month')
    AT TIME ZONE 'UTC') * 1000)::bigint
$fn$`,
      `CREATE OR REPLACE FUNCTION ${roll}(r ${ledger}, now_ms bigint) RETURNS ${ledger} LANGUAGE plpgsql IMMUTABLE AS $fn$
DECLARE
  h bigint := floor(now_ms / 3600000.0);
  d bigint := floor(now_ms / 86400000.0);
  m bigint := ${month}(now_ms);
BEGIN
  IF r.hour = h THEN RETURN r; END IF;
  r.this_hour := 0;
  IF r.day <> d THEN r.today := 0; END IF;
  IF r.month <> m THEN r.this_month := 0; END IF;
  r.hour := h; r.day := d; r.month := m;
  RETURN r;
END
$fn$`,
      takeFunction,
      `CREATE OR REPLACE FUNCTION ${q("quota_refused")}(
  p_ledger text, p_sequence bigint, p_for bigint, p_until bigint, p_now bigint
) RETURNS TABLE (fresh boolean, refusals_in_row integer)
LANGUAGE plpgsql AS $fn$
DECLARE
  now_ms bigint := ${now}(p_now);
  r ${ledger};
BEGIN
  SELECT * INTO r FROM ${ledger} l WHERE l.ledger = p_ledger FOR UPDATE;
  IF NOT FOUND OR p_sequence <= r.paused_after THEN
    RETURN QUERY SELECT false, coalesce(r.refusals, 0);
    RETURN;
  END IF;
  UPDATE ${ledger} l SET refusals = r.refusals + 1, paused_until = greatest(r.paused_until, ${pauseEnd}),
    paused_after = r.requests, updated_at = now()
  WHERE l.ledger = p_ledger;
  RETURN QUERY SELECT true, r.refusals + 1;
END
$fn$`,
      `CREATE OR REPLACE FUNCTION ${q("quota_extend")}(p_ledger text, p_for bigint, p_until bigint, p_now bigint)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  now_ms bigint := ${now}(p_now);
BEGIN
  ${insertRow}
  UPDATE ${ledger} l SET paused_until = greatest(l.paused_until, ${pauseEnd}), updated_at = now()
  WHERE l.ledger = p_ledger;
END
$fn$`,
      `CREATE OR REPLACE FUNCTION ${q("quota_answered")}(p_ledger text, p_sequence bigint, p_now bigint)
RETURNS void LANGUAGE sql AS $fn$
  UPDATE ${ledger} l SET refusals = 0, updated_at = now()
  WHERE l.ledger = p_ledger AND p_sequence > l.paused_after AND l.refusals > 0
$fn$`,
      `CREATE OR REPLACE FUNCTION ${q("quota_learn")}(
  p_ledger text, p_this_hour bigint, p_today bigint, p_this_month bigint, p_now bigint
) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  now_ms bigint := ${now}(p_now);
  r ${ledger};
BEGIN
  ${insertRow}
  SELECT * INTO r FROM ${ledger} l WHERE l.ledger = p_ledger FOR UPDATE;
  r := ${roll}(r, now_ms);
  UPDATE ${ledger} l SET hour = r.hour, this_hour = greatest(r.this_hour, p_this_hour), day = r.day,
    today = greatest(r.today, p_today), month = r.month, this_month = greatest(r.this_month, p_this_month),
    updated_at = now()
  WHERE l.ledger = p_ledger;
END
$fn$`,
      `CREATE OR REPLACE FUNCTION ${q("quota_read")}(p_ledger text, p_now bigint)
RETURNS SETOF ${ledger} LANGUAGE sql STABLE AS $fn$
  SELECT * FROM ${ledger} l WHERE l.ledger = p_ledger
$fn$`,
      // A claim on `key` for `p_owner`: taken when free, expired or already its own; `holder` is the owner it was
      // taken from (an expired claim), or the one holding it.
      `CREATE OR REPLACE FUNCTION ${q("claim")}(
  p_scope text, p_key text, p_owner text, p_lease bigint, p_now bigint
) RETURNS TABLE (claimed boolean, holder text, expires_in bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
  now_ms bigint := ${now}(p_now);
  c ${q("claims")};
BEGIN
  INSERT INTO ${q("claims")} (scope, key, owner, expires_at) VALUES (p_scope, p_key, p_owner, now_ms + p_lease)
  ON CONFLICT (scope, key) DO NOTHING;
  IF FOUND THEN
    RETURN QUERY SELECT true, NULL::text, p_lease;
    RETURN;
  END IF;
  SELECT * INTO c FROM ${q("claims")} x WHERE x.scope = p_scope AND x.key = p_key FOR UPDATE;
  IF NOT FOUND THEN
    -- Released meanwhile: ask again.
    RETURN QUERY SELECT false, NULL::text, 0::bigint;
    RETURN;
  END IF;
  IF c.owner = p_owner OR c.expires_at <= now_ms THEN
    UPDATE ${
        q("claims")
      } x SET owner = p_owner, expires_at = now_ms + p_lease WHERE x.scope = p_scope AND x.key = p_key;
    RETURN QUERY SELECT true, CASE WHEN c.owner = p_owner THEN NULL ELSE c.owner END, p_lease;
    RETURN;
  END IF;
  RETURN QUERY SELECT false, c.owner, c.expires_at - now_ms;
END
$fn$`
    ]
  }, {
    version: 2,
    description: `quota_take in ${schema}: a clock set back holds a start back by the spacing at most`,
    statements: [takeFunction]
  }]
}
