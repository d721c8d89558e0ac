import PostgresNIO
import SwitchboardCore
import SwitchboardStore

/// Admin API tokens (TokensSQL, through SharedSQLStore) and transaction views (docs/ADMIN-API.md).
extension PostgresStore: TokenStore, TransactionStore {
    private static let transactionColumns = """
        w.id, w.tenant, w.workflow, e.type, e.entity, e.external_id, w.status, w.attempts::bigint, e.received_at, w.finished_at,
        w.connection, w.last_status, w.last_error, e.amount, e.currency, w.steps
        """

    public func transactions(_ f: TransactionFilter) throws -> [TransactionSummary] {
        // The limit is written into the statement, rounded up to a power of 4 (a few statements to prepare): as a
        // parameter the generic plan guesses a huge row count and merge-joins every event of the tenant
        // (docs/PERFORMANCE.md, "Figures behind choices"; RetentionTests.statsAreBoundedOverTenMillionStoredEventsOnPostgreSQL).
        let bucket = Self.limitBucket(f.limit)
        // No filter on the event: take the tenant's latest items first, then each one's event by its key (LATERAL: a
        // generic plan may not merge-join all events instead).
        if f.entity == nil && f.since == nil && f.until == nil {
            return try pool.with { db in
                try db.query("""
                    SELECT \(Self.transactionColumns) FROM (
                        SELECT * FROM work WHERE tenant = $1 AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR workflow = $3)
                        ORDER BY id DESC LIMIT \(bucket)) w
                    CROSS JOIN LATERAL (SELECT * FROM events WHERE events.id = w.event_id) e
                    ORDER BY w.id DESC
                    """, [.text(f.tenant), .optional(f.status), .optional(f.workflow)]).prefix(max(f.limit, 0)).map(Self.summary)
            }
        }
        return try pool.with { db in
            try db.query("""
                SELECT \(Self.transactionColumns) FROM work w JOIN events e ON e.id = w.event_id
                WHERE w.tenant = $1 AND ($2::text IS NULL OR w.status = $2) AND ($3::text IS NULL OR e.entity = $3)
                  AND ($4::text IS NULL OR w.workflow = $4) AND ($5::bigint IS NULL OR e.received_at >= $5)
                  AND ($6::bigint IS NULL OR e.received_at < $6)
                ORDER BY w.id DESC LIMIT \(bucket)
                """, [.text(f.tenant), .optional(f.status), .optional(f.entity), .optional(f.workflow), .optional(f.since), .optional(f.until)])
                .prefix(max(f.limit, 0)).map(Self.summary)
        }
    }

    /// The smallest power of 4 (at least 16) not below `limit`.
    static func limitBucket(_ limit: Int) -> Int {
        var bucket = 16
        while bucket < limit && bucket < 1 << 30 { bucket *= 4 }
        return bucket
    }

    public func transaction(id: Int64) throws -> TransactionSummary? {
        try pool.with { db in
            try db.query("SELECT \(Self.transactionColumns) FROM work w JOIN events e ON e.id = w.event_id WHERE w.id = $1", [.int(id)])
                .first.map(Self.summary)
        }
    }

    private static func summary(_ r: PostgresRandomAccessRow) throws -> TransactionSummary {
        TransactionSummary(id: try r.int(0), tenant: try r.text(1), workflow: try r.text(2), eventType: try r.text(3), entity: try r.text(4),
                           externalID: try r.text(5), status: try r.text(6), attempts: Int(try r.int(7)), receivedAt: try r.int(8),
                           finishedAt: try r.optionalInt(9), connection: try r.optionalText(10), lastStatus: try r.optionalText(11),
                           lastError: try r.optionalText(12).map(Redactor.redact), amount: try r.optionalText(13),
                           currency: try r.optionalText(14), steps: try r.optionalText(15).map(StepCoding.decode) ?? [])
    }
}

/// The vault's rows: ciphertext only (Sources/SwitchboardVault does the cryptography).
extension PostgresStore: VaultStore {
    public func vaultDataKeys() throws -> [VaultDataKeyRow] {
        try pool.with { db in
            try db.query("SELECT id, tenant, wrapped, master_key_id FROM vault_keys ORDER BY created_at, id").map {
                VaultDataKeyRow(id: try $0.text(0), tenant: try $0.text(1), wrapped: try $0.bytes(2), masterKeyID: try $0.text(3))
            }
        }
    }

    public func vaultInsertDataKey(_ key: VaultDataKeyRow, now: Millis) throws {
        try pool.with { db in
            try db.run("INSERT INTO vault_keys (id, tenant, wrapped, master_key_id, created_at) VALUES ($1, $2, $3, $4, $5)",
                       [.text(key.id), .text(key.tenant), .bytes(key.wrapped), .text(key.masterKeyID), .int(now)])
        }
    }

    public func vaultRewrap(_ keys: [VaultDataKeyRow], actor: String, detail: String, now: Millis) throws {
        try pool.transaction { db in
            for key in keys {
                let changed = try db.run("UPDATE vault_keys SET wrapped = $1, master_key_id = $2, rotated_at = $3 WHERE id = $4",
                                         [.bytes(key.wrapped), .text(key.masterKeyID), .int(now), .text(key.id)])
                guard changed == 1 else { throw StoreError("vault data key \(key.id) disappeared during rotation") }
            }
            try Self.appendAudit(actor: actor, action: "vault.rotate", target: "vault", detail: detail, now: now, db: db)
        }
    }

    public func vaultPut(_ secret: VaultSecretRow, actor: String, now: Millis) throws {
        try pool.transaction { db in
            try db.run("""
                INSERT INTO vault_secrets (tenant, connection, name, sealed, key_id, created_at, updated_at, expires_at)
                VALUES ($1, $2, $3, $4, $5, $6, $6, $7)
                ON CONFLICT (tenant, connection, name) DO UPDATE SET sealed = excluded.sealed, key_id = excluded.key_id,
                    updated_at = excluded.updated_at, expires_at = excluded.expires_at
                """, [.text(secret.tenant), .text(secret.connection), .text(secret.name), .bytes(secret.sealed), .text(secret.keyID), .int(now),
                      .optional(secret.expiresAt)])
            // The audit line names the secret, never its value.
            try Self.appendAudit(actor: actor, action: "vault.set", target: "\(secret.tenant)/\(secret.connection)/\(secret.name)",
                                 detail: "", now: now, db: db)
        }
    }

    public func vaultSecret(tenant: String, connection: String, name: String) throws -> VaultSecretRow? {
        try pool.with { db in
            try db.query("SELECT sealed, key_id, updated_at, expires_at FROM vault_secrets WHERE tenant = $1 AND connection = $2 AND name = $3",
                         [.text(tenant), .text(connection), .text(name)]).first.map {
                VaultSecretRow(tenant: tenant, connection: connection, name: name, sealed: try $0.bytes(0), keyID: try $0.text(1),
                               updatedAt: try $0.int(2), expiresAt: try $0.optionalInt(3))
            }
        }
    }

    public func vaultList(tenant: String?) throws -> [VaultEntryInfo] {
        try pool.with { db in
            try db.query("""
                SELECT tenant, connection, name, key_id, created_at, updated_at, expires_at FROM vault_secrets
                WHERE $1::text IS NULL OR tenant = $1 ORDER BY tenant, connection, name
                """, [.optional(tenant)]).map {
                VaultEntryInfo(tenant: try $0.text(0), connection: try $0.text(1), name: try $0.text(2), keyID: try $0.text(3),
                               createdAt: try $0.int(4), updatedAt: try $0.int(5), expiresAt: try $0.optionalInt(6))
            }
        }
    }

    public func vaultDelete(tenant: String, connection: String, name: String, actor: String, now: Millis) throws -> Bool {
        try pool.transaction { db in
            let removed = try db.run("DELETE FROM vault_secrets WHERE tenant = $1 AND connection = $2 AND name = $3",
                                     [.text(tenant), .text(connection), .text(name)])
            if removed > 0 {
                try Self.appendAudit(actor: actor, action: "vault.delete", target: "\(tenant)/\(connection)/\(name)", detail: "", now: now, db: db)
            }
            return removed > 0
        }
    }
}
