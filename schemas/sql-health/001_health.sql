-- LGSP connection status (health.db), layout 1.  Its own file so the
-- poller's frequent writes never look like registry changes (SPEC §9).
-- Times are Unix milliseconds, UTC.  Written only by lgspd; lgspctl reads.

-- One row per thing polled: a system's level-1 URL or a service version's
-- level-2 URL, keyed by its registry id (never reused).  The names are
-- copied here so history stays readable after the registry row is gone.
CREATE TABLE targets (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL CHECK (kind IN ('system', 'version')),
    ref_id          INTEGER NOT NULL,        -- systems.id or versions.id
    name            TEXT NOT NULL,           -- system ident or CODE/VERSION
    system_ident    TEXT NOT NULL,           -- the system (provider) polled
    agency_code     TEXT NOT NULL,
    agency_name     TEXT NOT NULL,
    url             TEXT NOT NULL,
    interval_s      INTEGER NOT NULL,
    active          INTEGER NOT NULL DEFAULT 1,  -- 0: gone from the registry
    state           TEXT NOT NULL DEFAULT 'unknown'
                    CHECK (state IN ('unknown', 'up', 'degraded', 'down')),
    state_since_ms  INTEGER,
    fails           INTEGER NOT NULL DEFAULT 0,  -- consecutive failed checks
    oks             INTEGER NOT NULL DEFAULT 0,  -- consecutive good checks
    last_check_ms   INTEGER,
    last_result     TEXT,
    last_http       INTEGER,
    last_latency_ms INTEGER,
    last_reason     TEXT,
    UNIQUE (kind, ref_id)
);
CREATE INDEX targets_system ON targets(system_ident);
CREATE INDEX targets_name ON targets(name);

-- Every state change, kept health_summary_days.
CREATE TABLE state_changes (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    target_id       INTEGER NOT NULL REFERENCES targets(id),
    at_ms           INTEGER NOT NULL,
    from_state      TEXT NOT NULL,
    to_state        TEXT NOT NULL,
    reason          TEXT
);
CREATE INDEX state_changes_target ON state_changes(target_id, at_ms);
CREATE INDEX state_changes_at ON state_changes(at_ms);

-- An incident opens when a target goes down and closes when it leaves
-- down; kept health_summary_days after it closed.
CREATE TABLE incidents (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    target_id       INTEGER NOT NULL REFERENCES targets(id),
    opened_ms       INTEGER NOT NULL,
    closed_ms       INTEGER,
    reason          TEXT,
    close_reason    TEXT
);
CREATE INDEX incidents_open ON incidents(target_id) WHERE closed_ms IS NULL;
CREATE INDEX incidents_opened ON incidents(opened_ms);

-- Raw results and per-minute summaries, one row per target per UTC hour:
-- a row per check would be 2,000 targets x 8,640 checks a day, far over
-- the sizing target (docs/operator-guide.md "Health storage").  data is
-- the hour's records, little-endian, stored column by column (byte
-- planes) and deflated (cp_health_pack).  Raw: 10-byte records, kept
-- health_raw_days.  Minutes: 60 records of 6 bytes, health_summary_days.
-- Rowid tables on purpose: a WITHOUT ROWID row keeps only about 1 KB in
-- its page and spills the rest to an overflow page of its own, which
-- would more than double the size of a day's summaries.
CREATE TABLE raw_hours (
    target_id       INTEGER NOT NULL,
    hour_ms         INTEGER NOT NULL,
    n               INTEGER NOT NULL,        -- records
    data            BLOB NOT NULL,
    UNIQUE (target_id, hour_ms)
);

-- n = 60: an hour; once its UTC day is over, the day's hours are folded
-- into one row of n = 1440 keyed by the day's start.
CREATE TABLE minute_hours (
    target_id       INTEGER NOT NULL,
    hour_ms         INTEGER NOT NULL,
    n               INTEGER NOT NULL,        -- minutes
    data            BLOB NOT NULL,
    UNIQUE (target_id, hour_ms)
);

-- Webhook notifications: delivered with retries and backoff, kept as a
-- record of who was told what.
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id     INTEGER NOT NULL REFERENCES incidents(id),
    event           TEXT NOT NULL CHECK (event IN ('open', 'close')),
    body            TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_ms         INTEGER NOT NULL,
    last_error      TEXT,
    created_ms      INTEGER NOT NULL
);
CREATE INDEX notifications_pending ON notifications(next_ms)
    WHERE state = 'pending';
