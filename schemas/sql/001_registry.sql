-- LGSP registry, layout 1.
-- Every id is INTEGER PRIMARY KEY AUTOINCREMENT: SQLite then never hands out
-- an id again, even after the row is gone, which the data path relies on (its
-- token cache and rate-limit state are keyed by ids).
-- Times are INTEGER: seconds since the Unix epoch, UTC, unless named *_ms.

CREATE TABLE agencies (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    code          TEXT NOT NULL UNIQUE,          -- canonical identity code
    name          TEXT NOT NULL,
    parent_id     INTEGER REFERENCES agencies(id),
    state         TEXT NOT NULL DEFAULT 'active'
                  CHECK (state IN ('active', 'closed')),
    close_reason  TEXT,
    closed_at     INTEGER,
    created_at    INTEGER NOT NULL
);

-- Every code an agency was ever known by: its canonical code, aliases in the
-- other grammar, former codes after a rename. A code is never reused, so rows
-- are never deleted.
CREATE TABLE agency_codes (
    code          TEXT PRIMARY KEY,
    agency_id     INTEGER NOT NULL REFERENCES agencies(id),
    kind          TEXT NOT NULL CHECK (kind IN ('canonical', 'alias', 'former'))
);
CREATE INDEX agency_codes_agency ON agency_codes(agency_id);

CREATE TABLE systems (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    ident                TEXT NOT NULL UNIQUE,   -- [a-z][a-z0-9-]{1,63}
    agency_id            INTEGER NOT NULL REFERENCES agencies(id),
    name                 TEXT NOT NULL,
    health_url           TEXT,
    poll_interval        INTEGER NOT NULL DEFAULT 60,
    security_level       INTEGER,                -- approved level (1..5)
    commitment_signed_by TEXT,                   -- Form 03
    commitment_date      TEXT,                   -- YYYY-MM-DD
    commitment_form      TEXT,                   -- Form 03 JSON, when given
    suspended            INTEGER NOT NULL DEFAULT 0,
    suspend_reason       TEXT,
    created_at           INTEGER NOT NULL
);

CREATE TABLE services (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    code               TEXT NOT NULL UNIQUE,     -- [a-z0-9][a-z0-9-]{0,63}
    provider_system_id INTEGER NOT NULL REFERENCES systems(id),
    name               TEXT NOT NULL,
    purpose            TEXT,
    form               TEXT,                     -- Form 01 JSON, when given
    end_at             INTEGER,                  -- service ends (60 days notice)
    end_reason         TEXT,                     -- --force --reason
    suspended          INTEGER NOT NULL DEFAULT 0,
    suspend_reason     TEXT,
    created_at         INTEGER NOT NULL
);

CREATE TABLE versions (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    service_id         INTEGER NOT NULL REFERENCES services(id),
    version            TEXT NOT NULL,
    state              TEXT NOT NULL DEFAULT 'draft'
                       CHECK (state IN ('draft', 'sandbox', 'published',
                                        'deprecated', 'retired')),
    upstream           TEXT NOT NULL,            -- production upstream URL
    sandbox_upstream   TEXT,                     -- NULL: sandbox uses upstream
    methods            TEXT NOT NULL DEFAULT 'GET',  -- comma separated
    rate               INTEGER NOT NULL DEFAULT 0,   -- version cap, req/s; 0 none
    burst              INTEGER NOT NULL DEFAULT 0,
    upstream_header    TEXT,                     -- "Name: value", a secret
    timeout_ms         INTEGER NOT NULL DEFAULT 30000,
    body_limit         INTEGER NOT NULL DEFAULT 1048576,
    health_url         TEXT,                     -- level 2
    fail_fast          INTEGER NOT NULL DEFAULT 0,   -- 503 while provider down
    published_at       INTEGER,                  -- production publication
    sandbox_at         INTEGER,
    deprecated_at      INTEGER,
    sunset_at          INTEGER,
    retired_at         INTEGER,
    successor_id       INTEGER REFERENCES versions(id), -- set on deprecate
    lifecycle_reason   TEXT,                     -- --force --reason
    suspended          INTEGER NOT NULL DEFAULT 0,
    suspend_reason     TEXT,
    created_at         INTEGER NOT NULL,
    UNIQUE (service_id, version)
);

CREATE TABLE grants (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    consumer_system_id INTEGER NOT NULL REFERENCES systems(id),
    version_id         INTEGER NOT NULL REFERENCES versions(id),
    env                TEXT NOT NULL CHECK (env IN ('sandbox', 'production')),
    rate               INTEGER NOT NULL DEFAULT 10,  -- req/s
    burst              INTEGER NOT NULL DEFAULT 10,
    quota              INTEGER,                      -- per city day; NULL none
    state              TEXT NOT NULL DEFAULT 'active'
                       CHECK (state IN ('active', 'suspended', 'revoked')),
    reason             TEXT,
    request_id         INTEGER,
    created_at         INTEGER NOT NULL,
    revoked_at         INTEGER
);
CREATE UNIQUE INDEX grants_live
    ON grants(consumer_system_id, version_id, env) WHERE state != 'revoked';

CREATE TABLE credentials (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id     TEXT NOT NULL UNIQUE,
    system_id     INTEGER NOT NULL REFERENCES systems(id),
    env           TEXT NOT NULL CHECK (env IN ('sandbox', 'production')),
    secret_hash   BLOB NOT NULL,                 -- HMAC-SHA-256(pepper, secret)
    state         TEXT NOT NULL DEFAULT 'active'
                  CHECK (state IN ('active', 'revoked')),
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
);

-- Platform signing keys. The private half lives in $LGSP_HOME/keys/<kid>.pem,
-- never in the database (backups of lgsp.db must not carry it).
CREATE TABLE signing_keys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kid           TEXT NOT NULL UNIQUE,
    alg           TEXT NOT NULL CHECK (alg IN ('RS256', 'ES256')),
    public_der    BLOB NOT NULL,                 -- SubjectPublicKeyInfo
    state         TEXT NOT NULL DEFAULT 'active'
                  CHECK (state IN ('active', 'retiring', 'revoked')),
    created_at    INTEGER NOT NULL,
    retiring_at   INTEGER,                       -- rotated out at
    verify_until  INTEGER,                       -- last token it signed expires
    revoked_at    INTEGER,
    revoke_reason TEXT
);

-- Trusted external issuers (VDXP, a city SSO).
CREATE TABLE issuers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    iss           TEXT NOT NULL,
    env           TEXT NOT NULL CHECK (env IN ('sandbox', 'production')),
    audience      TEXT NOT NULL,
    jwks_source   TEXT NOT NULL,                 -- file path or URL
    system_claim  TEXT NOT NULL DEFAULT 'sub',
    jwks          TEXT,                          -- last good JWKS document
    fetched_at    INTEGER,
    created_at    INTEGER NOT NULL,
    UNIQUE (iss, env)
);

-- Form 02 requests.
CREATE TABLE requests (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    consumer_system_id INTEGER NOT NULL REFERENCES systems(id),
    version_id         INTEGER NOT NULL REFERENCES versions(id),
    env                TEXT NOT NULL CHECK (env IN ('sandbox', 'production')),
    purpose            TEXT NOT NULL,
    form               TEXT,
    state              TEXT NOT NULL DEFAULT 'open'
                       CHECK (state IN ('open', 'approved', 'rejected')),
    reason             TEXT,
    grant_id           INTEGER REFERENCES grants(id),
    created_at         INTEGER NOT NULL,
    decided_at         INTEGER
);

CREATE TABLE notices (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL,                 -- maintenance, deprecation, ...
    target        TEXT,                          -- CODE or CODE/VERSION
    start_at      INTEGER NOT NULL,
    end_at        INTEGER,
    text          TEXT NOT NULL,
    forced_reason TEXT,
    created_at    INTEGER NOT NULL
);

-- Every operator change: who, when, what, before and after (JSON).
CREATE TABLE change_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms         INTEGER NOT NULL,
    os_user       TEXT NOT NULL,
    operator      TEXT,                          -- $LGSP_OPERATOR
    object        TEXT NOT NULL,                 -- e.g. grant:12, agency:H26.107
    action        TEXT NOT NULL,
    before        TEXT,
    after         TEXT
);
