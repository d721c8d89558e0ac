import SwitchboardStore
import Testing

/// The shared cold-path statements are written once with `?` placeholders; each backend's dialect
/// renders them (the statements themselves run on both backends in StoreContractTests).
@Suite struct SharedSQLTests {
    @Test func placeholdersAreNumberedForPostgreSQLOutsideQuotedText() {
        let sql = "UPDATE t SET a = ?, note = 'why?' WHERE b = ? AND c = \"odd?name\" AND d = ?"
        #expect(SQLDialect.postgres.render(sql) == "UPDATE t SET a = $1, note = 'why?' WHERE b = $2 AND c = \"odd?name\" AND d = $3")
        #expect(SQLDialect.sqlite.render(sql) == sql)
    }

    @Test func onlyPostgreSQLLocksRowsAndClearsClaims() {
        #expect(SQLDialect.postgres.lockRows == " FOR UPDATE" && SQLDialect.sqlite.lockRows.isEmpty)
        #expect(SQLDialect.postgres.requeueAssignments.contains("lease_owner = NULL") && SQLDialect.sqlite.requeueAssignments.isEmpty)
    }
}
