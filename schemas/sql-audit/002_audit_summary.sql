-- Daily summaries of the audit log, for `lgspctl report` (SPEC §9: "summarised
-- in reports per agency, service and day").  lgspd adds each batch of records
-- to them in the same transaction as the records themselves, so a summary
-- never counts a record twice nor misses one; reports then read a few
-- thousand rows for a month instead of hundreds of millions of records.
-- Summaries outlive the records' hot period (archiving does not touch them).
-- They start with the records ingested after this migration.
--
-- day is the city's date (UTC+7) of the record's start; empty texts stand
-- for what the gateway never learned (a call without a valid token has no
-- consumer, an unknown service no provider).

CREATE TABLE audit_daily (
    day            TEXT NOT NULL,              -- YYYY-MM-DD, UTC+7
    environment    TEXT NOT NULL,              -- production | sandbox
    consumer_org   TEXT NOT NULL,
    provider_org   TEXT NOT NULL,
    service        TEXT NOT NULL,
    version        TEXT NOT NULL,
    calls          INTEGER NOT NULL,
    successes      INTEGER NOT NULL,           -- result 00
    failures       INTEGER NOT NULL,           -- result 01 (denials too)
    denials        INTEGER NOT NULL,           -- with a reason
    bytes_in       INTEGER NOT NULL,
    bytes_out      INTEGER NOT NULL,
    duration_us    INTEGER NOT NULL,           -- sum
    max_duration_us INTEGER NOT NULL,
    PRIMARY KEY (day, environment, consumer_org, provider_org, service,
                 version)
) WITHOUT ROWID;

-- Denials (and gateway-side failures) by reason code.
CREATE TABLE audit_daily_reasons (
    day            TEXT NOT NULL,
    environment    TEXT NOT NULL,
    consumer_org   TEXT NOT NULL,
    provider_org   TEXT NOT NULL,
    service        TEXT NOT NULL,
    version        TEXT NOT NULL,
    reason         TEXT NOT NULL,
    count          INTEGER NOT NULL,
    PRIMARY KEY (day, environment, consumer_org, provider_org, service,
                 version, reason)
) WITHOUT ROWID;

-- Latency histogram: bucket b holds the calls whose duration d (µs) has
-- bound(b-1) < d <= bound(b), bound(b) = round(1000 * 2^(b/4)), bound(-1) = 0;
-- the last bucket (63) is open above.  Four buckets per doubling: a
-- percentile read from it is at most 19% above the true value.
CREATE TABLE audit_daily_latency (
    day            TEXT NOT NULL,
    environment    TEXT NOT NULL,
    consumer_org   TEXT NOT NULL,
    provider_org   TEXT NOT NULL,
    service        TEXT NOT NULL,
    version        TEXT NOT NULL,
    bucket         INTEGER NOT NULL,
    count          INTEGER NOT NULL,
    PRIMARY KEY (day, environment, consumer_org, provider_org, service,
                 version, bucket)
) WITHOUT ROWID;
