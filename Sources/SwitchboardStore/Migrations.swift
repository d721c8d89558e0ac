/// Versioned schema migrations of the SQLite store: applied in order, each
/// once, recorded in schema_migrations. Never edit a released one; add the next.
enum Migrations {
    static let all: [(version: Int, sql: String)] = [
        (1, """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            tenant TEXT NOT NULL,
            source TEXT NOT NULL,
            type TEXT NOT NULL,
            entity TEXT NOT NULL,
            external_id TEXT NOT NULL,
            dedupe_key TEXT NOT NULL UNIQUE,
            payload BLOB NOT NULL,
            amount TEXT,
            currency TEXT,
            meta TEXT,
            received_at INTEGER NOT NULL
        );
        CREATE INDEX events_by_record ON events(tenant, entity, external_id);
        CREATE TABLE work (
            id INTEGER PRIMARY KEY,
            event_id INTEGER NOT NULL REFERENCES events(id),
            tenant TEXT NOT NULL,
            workflow TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL,
            lease_until INTEGER,
            first_tried_at INTEGER,
            last_tried_at INTEGER,
            created_at INTEGER NOT NULL,
            finished_at INTEGER,
            connection TEXT,
            last_status TEXT,
            last_error TEXT,
            steps TEXT
        );
        CREATE INDEX work_due ON work(status, next_attempt_at);
        CREATE INDEX work_lease ON work(status, lease_until);
        CREATE INDEX work_by_event ON work(event_id);
        CREATE TABLE exceptions (
            id INTEGER PRIMARY KEY,
            tenant TEXT NOT NULL,
            work_id INTEGER,
            event_id INTEGER,
            event_type TEXT NOT NULL,
            external_id TEXT NOT NULL,
            workflow TEXT,
            connection TEXT,
            reason TEXT NOT NULL,
            diagnostics TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            assignee TEXT,
            amount TEXT,
            currency TEXT,
            first_tried_at INTEGER,
            last_tried_at INTEGER,
            status TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            resolved_at INTEGER,
            resolved_by TEXT,
            resolution TEXT
        );
        CREATE INDEX exceptions_open ON exceptions(status, tenant, reason);
        CREATE TABLE xref (
            tenant TEXT NOT NULL,
            entity TEXT NOT NULL,
            canonical_id TEXT NOT NULL,
            connection TEXT NOT NULL,
            external_id TEXT NOT NULL,
            content BLOB,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (tenant, entity, connection, external_id)
        );
        CREATE INDEX xref_canonical ON xref(tenant, entity, canonical_id);
        CREATE TABLE cursors (
            tenant TEXT NOT NULL,
            connection TEXT NOT NULL,
            stream TEXT NOT NULL,
            state BLOB NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (tenant, connection, stream)
        );
        CREATE TABLE ledger (
            idempotency_key TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            connection TEXT NOT NULL,
            entity TEXT NOT NULL,
            external_id TEXT NOT NULL,
            created_at INTEGER NOT NULL
        );
        CREATE TABLE audit (
            seq INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            detail TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE TABLE audit_head (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            seq INTEGER NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE TABLE kv (
            tenant TEXT NOT NULL,
            connection TEXT NOT NULL,
            key TEXT NOT NULL,
            value BLOB NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (tenant, connection, key)
        );
        CREATE TABLE connection_state (
            tenant TEXT NOT NULL,
            connection TEXT NOT NULL,
            paused INTEGER NOT NULL,
            reason TEXT NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (tenant, connection)
        );
        """),
        (2, """
        CREATE TABLE vault_keys (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            wrapped BLOB NOT NULL,
            master_key_id TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            rotated_at INTEGER
        );
        CREATE TABLE vault_secrets (
            tenant TEXT NOT NULL,
            connection TEXT NOT NULL,
            name TEXT NOT NULL,
            sealed BLOB NOT NULL,
            key_id TEXT NOT NULL REFERENCES vault_keys(id),
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (tenant, connection, name)
        );
        """),
        (3, """
        CREATE TABLE api_tokens (
            name TEXT PRIMARY KEY,
            hash TEXT NOT NULL UNIQUE,
            prefix TEXT NOT NULL,
            role TEXT NOT NULL,
            tenant TEXT,
            created_at INTEGER NOT NULL,
            revoked_at INTEGER
        );
        """),
        // Fewer and clustered index writes per event (the WAL rewrites every page a commit touches):
        // the queue's indexes hold only the items they serve, so finished work leaves them;
        // two indexes no query used are gone; ledger and xref are stored in their key's order
        // (no rowid table beside a key index).
        // Ledger keys were SHA-256 hex until now: `store_meta` says so, and lookups also try that form.
        (4, """
        DROP INDEX events_by_record;
        DROP INDEX work_by_event;
        DROP INDEX work_due;
        DROP INDEX work_lease;
        CREATE INDEX work_pending ON work(next_attempt_at) WHERE status = 'pending';
        CREATE INDEX work_running ON work(lease_until) WHERE status = 'running';
        CREATE INDEX work_parked ON work(tenant, connection) WHERE status = 'parked';
        CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        INSERT INTO store_meta (key, value) SELECT 'ledger_hashed_keys', '1' WHERE EXISTS (SELECT 1 FROM ledger);
        CREATE TABLE ledger_v4 (
            idempotency_key TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            connection TEXT NOT NULL,
            entity TEXT NOT NULL,
            external_id TEXT NOT NULL,
            created_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO ledger_v4 SELECT idempotency_key, tenant, connection, entity, external_id, created_at FROM ledger;
        DROP TABLE ledger;
        ALTER TABLE ledger_v4 RENAME TO ledger;
        CREATE TABLE xref_v4 (
            tenant TEXT NOT NULL,
            entity TEXT NOT NULL,
            canonical_id TEXT NOT NULL,
            connection TEXT NOT NULL,
            external_id TEXT NOT NULL,
            content BLOB,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (tenant, entity, connection, external_id)
        ) WITHOUT ROWID;
        INSERT INTO xref_v4 SELECT tenant, entity, canonical_id, connection, external_id, content, updated_at FROM xref;
        DROP TABLE xref;
        ALTER TABLE xref_v4 RENAME TO xref;
        CREATE INDEX xref_canonical ON xref(tenant, entity, canonical_id);
        """),
        // A record's ledger row keeps the newest event written (later versions update the record; an older one
        // is not written over it). Rows written before hold NULL.
        (5, """
        ALTER TABLE ledger ADD COLUMN event_id INTEGER;
        """),
        // A secret kept for an overlap window after it was replaced (`vault set --keep-previous`): NULL never expires.
        (6, """
        ALTER TABLE vault_secrets ADD COLUMN expires_at INTEGER;
        """),
        // Bounded reads and retention (docs/STORE.md "Retention"): totals kept by triggers in the transactions
        // that change them (stats read a few rows, not the whole log); the latest completions, a tenant's latest
        // transactions and its events by age through indexes (recent latency, the dashboard, the pruner); the
        // audit trail's pruning checkpoint.
        // Counters count what ever happened: pruning deletes rows but nothing takes them off. Inserted events and work
        // are counted by the insert itself, once per batch (SQLiteStore.insertEvents: a trigger per row costs more;
        // docs/PERFORMANCE.md, "Figures behind choices"); status changes, which happen in several places, by the trigger.
        (7, """
        CREATE TABLE tenant_counts (
            tenant TEXT NOT NULL,
            name TEXT NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (tenant, name)
        ) WITHOUT ROWID;
        INSERT INTO tenant_counts (tenant, name, n) SELECT tenant, 'events', COUNT(*) FROM events GROUP BY tenant;
        INSERT INTO tenant_counts (tenant, name, n) SELECT tenant, 'work.' || status, COUNT(*) FROM work GROUP BY tenant, status;
        CREATE TRIGGER count_work_status AFTER UPDATE OF status ON work WHEN old.status IS NOT new.status BEGIN
            UPDATE tenant_counts SET n = n - 1 WHERE tenant = old.tenant AND name = 'work.' || old.status;
            INSERT INTO tenant_counts (tenant, name, n) VALUES (new.tenant, 'work.' || new.status, 1)
                ON CONFLICT (tenant, name) DO UPDATE SET n = n + 1;
        END;
        CREATE INDEX work_done_at ON work(tenant, finished_at) WHERE status = 'done';
        CREATE INDEX work_by_tenant ON work(tenant, id);
        CREATE INDEX events_by_age ON events(tenant, received_at);
        CREATE TABLE audit_checkpoint (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            seq INTEGER NOT NULL,
            hash TEXT NOT NULL,
            at INTEGER NOT NULL
        );
        """),
        // The pruner deletes event rows whose work is gone. With foreign keys on, SQLite checks each deleted event
        // against work.event_id, and without an index that is a scan of the whole work table per event: found by the
        // soak with a 10-minute dedupe window, where one 2,000-row delete held the writer for minutes and the host
        // stopped. The index makes the check a lookup, and lets the pruner ask "is any work left?" per event.
        (8, """
        CREATE INDEX work_by_event ON work(event_id);
        """),
    ]
}
