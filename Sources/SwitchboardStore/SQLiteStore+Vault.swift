import SwitchboardCore

extension SQLiteStore: VaultStore {
    public func vaultDataKeys() throws -> [VaultDataKeyRow] {
        try read { db in
            try db.query("SELECT id, tenant, wrapped, master_key_id FROM vault_keys ORDER BY created_at, id") {
                VaultDataKeyRow(id: $0.text(0), tenant: $0.text(1), wrapped: $0.blob(2), masterKeyID: $0.text(3))
            }
        }
    }

    public func vaultInsertDataKey(_ key: VaultDataKeyRow, now: Millis) throws {
        try writer.write { db in
            try db.run("INSERT INTO vault_keys (id, tenant, wrapped, master_key_id, created_at) VALUES (?, ?, ?, ?, ?)",
                       .text(key.id), .text(key.tenant), .blob(key.wrapped), .text(key.masterKeyID), .int(now))
        }
    }

    public func vaultRewrap(_ keys: [VaultDataKeyRow], actor: String, detail: String, now: Millis) throws {
        try writer.write { db in
            for key in keys {
                let changed = try db.run("UPDATE vault_keys SET wrapped = ?, master_key_id = ?, rotated_at = ? WHERE id = ?",
                                         .blob(key.wrapped), .text(key.masterKeyID), .int(now), .text(key.id))
                guard changed == 1 else { throw StoreError("vault data key \(key.id) disappeared during rotation") }
            }
            try Self.appendAudit(actor: actor, action: "vault.rotate", target: "vault", detail: detail, now: now, db: db)
        }
    }

    public func vaultPut(_ secret: VaultSecretRow, actor: String, now: Millis) throws {
        try writer.write { db in
            try db.run("""
                INSERT INTO vault_secrets (tenant, connection, name, sealed, key_id, created_at, updated_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (tenant, connection, name) DO UPDATE SET sealed = excluded.sealed, key_id = excluded.key_id,
                    updated_at = excluded.updated_at, expires_at = excluded.expires_at
                """, .text(secret.tenant), .text(secret.connection), .text(secret.name), .blob(secret.sealed), .text(secret.keyID),
                       .int(now), .int(now), secret.expiresAt.map { .int($0) } ?? .null)
            // The audit line names the secret, never its value.
            try Self.appendAudit(actor: actor, action: "vault.set", target: "\(secret.tenant)/\(secret.connection)/\(secret.name)",
                                 detail: "", now: now, db: db)
        }
    }

    public func vaultSecret(tenant: String, connection: String, name: String) throws -> VaultSecretRow? {
        try read { db in
            try db.query("SELECT sealed, key_id, updated_at, expires_at FROM vault_secrets WHERE tenant = ? AND connection = ? AND name = ?",
                         [.text(tenant), .text(connection), .text(name)]) {
                VaultSecretRow(tenant: tenant, connection: connection, name: name, sealed: $0.blob(0), keyID: $0.text(1), updatedAt: $0.int(2),
                               expiresAt: $0.optionalInt(3))
            }.first
        }
    }

    public func vaultList(tenant: String?) throws -> [VaultEntryInfo] {
        try read { db in
            try db.query("""
                SELECT tenant, connection, name, key_id, created_at, updated_at, expires_at FROM vault_secrets
                WHERE ? IS NULL OR tenant = ? ORDER BY tenant, connection, name
                """, [tenant.map { .text($0) } ?? .null, tenant.map { .text($0) } ?? .null]) {
                VaultEntryInfo(tenant: $0.text(0), connection: $0.text(1), name: $0.text(2), keyID: $0.text(3), createdAt: $0.int(4),
                               updatedAt: $0.int(5), expiresAt: $0.optionalInt(6))
            }
        }
    }

    public func vaultDelete(tenant: String, connection: String, name: String, actor: String, now: Millis) throws -> Bool {
        try writer.write { db in
            let removed = try db.run("DELETE FROM vault_secrets WHERE tenant = ? AND connection = ? AND name = ?",
                                     .text(tenant), .text(connection), .text(name))
            if removed > 0 {
                try Self.appendAudit(actor: actor, action: "vault.delete", target: "\(tenant)/\(connection)/\(name)", detail: "", now: now, db: db)
            }
            return removed > 0
        }
    }
}
