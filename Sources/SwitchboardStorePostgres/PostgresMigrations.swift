/// Versioned schema migrations of the PostgreSQL store: applied in order, each
/// once, recorded in schema_migrations, under an advisory lock so hosts starting
/// together migrate once. Never edit a released one; add the next.
///
/// The tables are the SQLite store's (docs/STORE.md), typed for PostgreSQL, plus
/// what several hosts need: `lease_owner` and `ordering_key` on work items.
/// Times stay integer milliseconds so both backends compare the same way.
enum PostgresMigrations {
    /// A migration's statements, one at a time (the extended protocol takes one): split at `;` + newline,
    /// except inside a `$$` function body.
    static func statements(_ sql: String) -> [String] {
        var out: [String] = []
        var current = ""
        var inBody = false
        for line in sql.split(separator: "\n", omittingEmptySubsequences: false) {
            current += line + "\n"
            if line.components(separatedBy: "$$").count % 2 == 0 { inBody.toggle() }
            if !inBody && line.hasSuffix(";") {
                out.append(String(current.dropLast(2)))
                current = ""
            }
        }
        if !current.allSatisfy(\.isWhitespace) { out.append(current) }
        return out.filter { !$0.allSatisfy(\.isWhitespace) }
    }

    static let all: [(version: Int, sql: String)] = [
        (1, """
        CREATE TABLE events (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            tenant text NOT NULL,
            source text NOT NULL,
            type text NOT NULL,
            entity text NOT NULL,
            external_id text NOT NULL,
            dedupe_key text NOT NULL UNIQUE,
            payload bytea NOT NULL,
            amount text,
            currency text,
            meta text,
            received_at bigint NOT NULL
        );
        CREATE INDEX events_by_record ON events(tenant, entity, external_id);
        CREATE TABLE work (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            event_id bigint NOT NULL REFERENCES events(id),
            tenant text NOT NULL,
            workflow text NOT NULL,
            -- Items with the same key run one at a time, oldest first (one record's events in order).
            ordering_key text NOT NULL,
            status text NOT NULL,
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at bigint NOT NULL,
            lease_until bigint,
            lease_owner text,
            -- How often an expired lease of this item was taken over by another claim.
            lease_recoveries integer NOT NULL DEFAULT 0,
            first_tried_at bigint,
            last_tried_at bigint,
            created_at bigint NOT NULL,
            finished_at bigint,
            connection text,
            last_status text,
            last_error text,
            steps text
        );
        -- Few, partial indexes: every status change of a row writes a new entry into each index whose predicate
        -- it matches, so the queue keeps only what claims, lease recovery and ordering look up.
        CREATE INDEX work_pending ON work(next_attempt_at, id) WHERE status = 'pending';
        CREATE INDEX work_running ON work(lease_until) WHERE status = 'running';
        CREATE INDEX work_unfinished_key ON work(ordering_key, id) WHERE status IN ('pending', 'running', 'parked');
        CREATE INDEX work_parked ON work(tenant, connection) WHERE status = 'parked';
        CREATE TABLE exceptions (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            tenant text NOT NULL,
            work_id bigint,
            event_id bigint,
            event_type text NOT NULL,
            external_id text NOT NULL,
            workflow text,
            connection text,
            reason text NOT NULL,
            diagnostics text NOT NULL,
            attempts integer NOT NULL,
            assignee text,
            amount text,
            currency text,
            first_tried_at bigint,
            last_tried_at bigint,
            status text NOT NULL,
            created_at bigint NOT NULL,
            resolved_at bigint,
            resolved_by text,
            resolution text
        );
        CREATE INDEX exceptions_open ON exceptions(status, tenant, reason);
        CREATE TABLE xref (
            tenant text NOT NULL,
            entity text NOT NULL,
            canonical_id text NOT NULL,
            connection text NOT NULL,
            external_id text NOT NULL,
            content bytea,
            updated_at bigint NOT NULL,
            PRIMARY KEY (tenant, entity, connection, external_id)
        );
        CREATE INDEX xref_canonical ON xref(tenant, entity, canonical_id);
        CREATE TABLE cursors (
            tenant text NOT NULL,
            connection text NOT NULL,
            stream text NOT NULL,
            state bytea NOT NULL,
            updated_at bigint NOT NULL,
            PRIMARY KEY (tenant, connection, stream)
        );
        CREATE TABLE ledger (
            idempotency_key text PRIMARY KEY,
            tenant text NOT NULL,
            connection text NOT NULL,
            entity text NOT NULL,
            external_id text NOT NULL,
            created_at bigint NOT NULL
        );
        CREATE TABLE audit (
            seq bigint PRIMARY KEY,
            at bigint NOT NULL,
            actor text NOT NULL,
            action text NOT NULL,
            target text NOT NULL,
            detail text NOT NULL,
            prev_hash text NOT NULL,
            hash text NOT NULL
        );
        -- The head row exists from the start: appends lock it (FOR UPDATE), so the chain stays linear across hosts.
        CREATE TABLE audit_head (
            id integer PRIMARY KEY CHECK (id = 1),
            seq bigint NOT NULL,
            hash text NOT NULL
        );
        INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, 'genesis');
        CREATE TABLE kv (
            tenant text NOT NULL,
            connection text NOT NULL,
            key text NOT NULL,
            value bytea NOT NULL,
            updated_at bigint NOT NULL,
            PRIMARY KEY (tenant, connection, key)
        );
        CREATE TABLE connection_state (
            tenant text NOT NULL,
            connection text NOT NULL,
            paused boolean NOT NULL,
            reason text NOT NULL,
            updated_at bigint NOT NULL,
            PRIMARY KEY (tenant, connection)
        );
        CREATE TABLE vault_keys (
            id text PRIMARY KEY,
            tenant text NOT NULL,
            wrapped bytea NOT NULL,
            master_key_id text NOT NULL,
            created_at bigint NOT NULL,
            rotated_at bigint
        );
        CREATE TABLE vault_secrets (
            tenant text NOT NULL,
            connection text NOT NULL,
            name text NOT NULL,
            sealed bytea NOT NULL,
            key_id text NOT NULL REFERENCES vault_keys(id),
            created_at bigint NOT NULL,
            updated_at bigint NOT NULL,
            PRIMARY KEY (tenant, connection, name)
        );
        CREATE TABLE api_tokens (
            name text PRIMARY KEY,
            hash text NOT NULL UNIQUE,
            prefix text NOT NULL,
            role text NOT NULL,
            tenant text,
            created_at bigint NOT NULL,
            revoked_at bigint
        );
        -- Token buckets shared by every host (one row per rate-limited connection).
        CREATE TABLE rate_limits (
            key text PRIMARY KEY,
            tokens double precision NOT NULL,
            refilled_at bigint NOT NULL
        );
        """),
        // Ledger keys are readable from here on (`tenant|step|type|source|external id`, clustered in the index);
        // rows written before hold the key's SHA-256 hex, and lookups also try that form while any exist.
        // events_by_record: no query used it, and every event paid for it.
        // Keys compare byte by byte (COLLATE "C"): they are identifiers, not text people sort, and a locale's
        // collation costs a strcoll per index comparison and changes with the C library (which corrupts indexes).
        (2, """
        DROP INDEX events_by_record;
        ALTER TABLE events ALTER COLUMN dedupe_key TYPE text COLLATE "C";
        ALTER TABLE work ALTER COLUMN ordering_key TYPE text COLLATE "C", ALTER COLUMN tenant TYPE text COLLATE "C",
            ALTER COLUMN connection TYPE text COLLATE "C";
        ALTER TABLE xref ALTER COLUMN tenant TYPE text COLLATE "C", ALTER COLUMN entity TYPE text COLLATE "C",
            ALTER COLUMN canonical_id TYPE text COLLATE "C", ALTER COLUMN connection TYPE text COLLATE "C",
            ALTER COLUMN external_id TYPE text COLLATE "C";
        ALTER TABLE ledger ALTER COLUMN idempotency_key TYPE text COLLATE "C";
        CREATE TABLE store_meta (key text PRIMARY KEY, value text NOT NULL);
        INSERT INTO store_meta (key, value) SELECT 'ledger_hashed_keys', '1' WHERE EXISTS (SELECT 1 FROM ledger)
        """),
        // A record's ledger row keeps the newest event written (later versions update the record; an older one,
        // run late by a host that lost its lease, is not written over it). Rows written before hold NULL.
        (3, """
        ALTER TABLE ledger ADD COLUMN event_id bigint
        """),
        // work.event_id is not a foreign key any more: PostgreSQL checked it with a query and a row lock on the
        // event per work row inserted (a trigger per row, and a write to the event's tuple). Work rows are only
        // ever inserted with their event, in the same transaction, and events are never deleted while work
        // refers to them, so the constraint guarded nothing the store does not already guarantee.
        (4, """
        ALTER TABLE work DROP CONSTRAINT IF EXISTS work_event_id_fkey
        """),
        // Held claims (docs/STORE-POSTGRES.md, guarantee 3): which session holds which items, so they show as
        // running and a dead holder's items are counted as taken over. A row is only ever a count's source:
        // the hold itself is the open transaction's row locks.
        (5, """
        CREATE TABLE held_claims (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            host text NOT NULL,
            backend_pid integer NOT NULL,
            work_ids bigint[] NOT NULL,
            created_at bigint NOT NULL
        )
        """),
        // A secret kept for an overlap window after it was replaced (`vault set --keep-previous`): NULL never expires.
        (6, """
        ALTER TABLE vault_secrets ADD COLUMN expires_at bigint
        """),
        // Bounded reads and retention, as SQLite's migration 7. Several hosts write at once here, so the triggers
        // append per-statement deltas (no row any two transactions both update: no lock waits, no deadlocks) and
        // the maintenance pass folds them into the totals; stats read totals plus the few unfolded deltas.
        (7, """
        CREATE TABLE tenant_counts (tenant text NOT NULL, name text NOT NULL, n bigint NOT NULL, PRIMARY KEY (tenant, name));
        CREATE TABLE tenant_count_deltas (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant text NOT NULL,
                                          name text NOT NULL, n bigint NOT NULL);
        INSERT INTO tenant_counts (tenant, name, n) SELECT tenant, 'events', COUNT(*) FROM events GROUP BY tenant;
        INSERT INTO tenant_counts (tenant, name, n) SELECT tenant, 'work.' || status, COUNT(*) FROM work GROUP BY tenant, status;
        CREATE FUNCTION count_events() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO tenant_count_deltas (tenant, name, n) SELECT tenant, 'events', COUNT(*) FROM new_rows GROUP BY tenant;
            RETURN NULL;
        END $$;
        CREATE TRIGGER count_events AFTER INSERT ON events REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION count_events();
        CREATE FUNCTION count_work_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO tenant_count_deltas (tenant, name, n)
                SELECT tenant, 'work.' || status, COUNT(*) FROM new_rows GROUP BY tenant, status;
            RETURN NULL;
        END $$;
        CREATE TRIGGER count_work_insert AFTER INSERT ON work REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION count_work_insert();
        CREATE FUNCTION count_work_update() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO tenant_count_deltas (tenant, name, n)
                SELECT tenant, name, SUM(n) FROM (
                    SELECT o.tenant, 'work.' || o.status AS name, -1 AS n FROM old_rows o JOIN new_rows c ON c.id = o.id
                        WHERE o.status IS DISTINCT FROM c.status
                    UNION ALL
                    SELECT c.tenant, 'work.' || c.status, 1 FROM old_rows o JOIN new_rows c ON c.id = o.id
                        WHERE o.status IS DISTINCT FROM c.status) d
                GROUP BY tenant, name HAVING SUM(n) <> 0;
            RETURN NULL;
        END $$;
        CREATE TRIGGER count_work_update AFTER UPDATE ON work REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION count_work_update();
        CREATE INDEX work_done_at ON work(tenant, finished_at) WHERE status = 'done';
        CREATE INDEX work_by_tenant ON work(tenant, id);
        CREATE INDEX events_by_age ON events(tenant, received_at);
        CREATE TABLE audit_checkpoint (id integer PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL, hash text NOT NULL, at bigint NOT NULL);
        """),
    ]
}
