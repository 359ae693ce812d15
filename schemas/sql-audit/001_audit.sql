-- audit.db: the audit log (SPEC §9), apart from the registry so audit
-- writes never look like registry changes.  lgspd is its only writer of
-- records; `lgspctl audit seal` adds seals.  See docs/audit.md.

-- One row per exchange, in chain order.  seq is the chain position,
-- given by lgspd (never reused: pruning removes the oldest rows only, and
-- audit_chain keeps the head).  hash = SHA-256(previous hash || canonical
-- bytes of this row), see docs/audit.md "Hash chain".
CREATE TABLE audit_records (
    seq                  INTEGER PRIMARY KEY,
    transaction_id       TEXT NOT NULL,
    request_id           TEXT NOT NULL,
    start_ms             INTEGER NOT NULL,            -- UTC ms
    duration_us          INTEGER NOT NULL,
    upstream_duration_us INTEGER NOT NULL,            -- -1: no upstream
    consumer_org         TEXT NOT NULL,
    consumer_system      TEXT NOT NULL,
    client_id            TEXT NOT NULL,
    provider_org         TEXT NOT NULL,
    provider_system      TEXT NOT NULL,
    service              TEXT NOT NULL,
    version              TEXT NOT NULL,
    environment          TEXT NOT NULL,
    method               TEXT NOT NULL,
    route                TEXT NOT NULL,
    status               INTEGER NOT NULL,
    upstream_status      INTEGER NOT NULL,            -- 0: none
    bytes_in             INTEGER NOT NULL,
    bytes_out            INTEGER NOT NULL,
    result               TEXT NOT NULL,               -- '00' | '01'
    reason               TEXT NOT NULL,               -- '' when allowed
    generation           INTEGER NOT NULL,            -- snapshot generation
    ingested_ms          INTEGER NOT NULL,            -- UTC ms
    hash                 BLOB NOT NULL
);
-- a belt: correctness comes from the read position committed with the rows
CREATE UNIQUE INDEX audit_records_txn ON audit_records (transaction_id);
CREATE INDEX audit_records_start ON audit_records (start_ms);
CREATE INDEX audit_records_consumer ON audit_records (consumer_system, start_ms);
CREATE INDEX audit_records_provider ON audit_records (provider_system, start_ms);
CREATE INDEX audit_records_service ON audit_records (service, start_ms);
CREATE INDEX audit_records_request ON audit_records (request_id);

-- The chain: its head (last seq and hash ever written) and its base (the
-- last record moved to the archive; 0 and zeros before any).
CREATE TABLE audit_chain (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    head_seq    INTEGER NOT NULL,
    head_hash   BLOB NOT NULL,
    base_seq    INTEGER NOT NULL,
    base_hash   BLOB NOT NULL
);
INSERT INTO audit_chain VALUES (1, 0, zeroblob(32), 0, zeroblob(32));

-- lgspd's read position in each spool segment, written in the same
-- transaction as the records it read.
CREATE TABLE spool_positions (
    segment     TEXT PRIMARY KEY,
    position    INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
);

-- Signed chain heads.
CREATE TABLE audit_seals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    seq         INTEGER NOT NULL,
    head_hash   BLOB NOT NULL,
    kid         TEXT NOT NULL,
    alg         TEXT NOT NULL,
    signature   BLOB NOT NULL,
    sealed_ms   INTEGER NOT NULL
);

-- Daily archive files in $LGSP_HOME/archive/, oldest first.
CREATE TABLE audit_archives (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    day         TEXT NOT NULL UNIQUE,                 -- YYYY-MM-DD, UTC+7
    file        TEXT NOT NULL,
    first_seq   INTEGER NOT NULL,
    last_seq    INTEGER NOT NULL,
    min_start_ms INTEGER NOT NULL,
    max_start_ms INTEGER NOT NULL,
    records     INTEGER NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    created_ms  INTEGER NOT NULL
);
