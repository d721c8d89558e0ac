import NIOCore
@testable import SwitchboardStorePostgres
import Testing

/// The queue binds batches as arrays and reads claims back as arrays in PostgreSQL's binary format, written and
/// read by PGArray: checked here against the server itself, both ways.
@Suite struct PGArrayTests {
    @Test func arraysRoundTripThroughTheServer() throws {
        let store = try TestPostgres.freshStore()
        let texts = ["", "plain", "ünïcødé ✓", String(repeating: "x", count: 70_000), "quote \" and , comma"]
        let ints: [Int64] = [0, -1, .max, .min, 42]
        let bytes: [[UInt8]] = [[], [0, 255, 0], Array(repeating: 7, count: 100_000)]
        try store.pool.with { db in
            // Bound as arrays, returned as arrays: what went in comes out, element for element.
            let row = try db.queryPrepared("SELECT $1::text[], $2::bigint[], $3::bytea[], cardinality($1::text[])",
                                           [.texts(texts), .ints(ints), .byteArrays(bytes)])[0]
            #expect(try row.texts(0) == texts)
            #expect(try row.ints(1) == ints)
            #expect(try row.byteArrays(2) == bytes)
            #expect(try row.int(3) == Int64(texts.count))
            // What the server builds itself: NULL elements, an empty array, and an SQL NULL.
            let built = try db.query("SELECT ARRAY['a', NULL, 'c'], ARRAY[]::bigint[], NULL::bytea[], array_agg(x::bigint) FROM generate_series(1, 3) x")[0]
            #expect(try built.texts(0) == ["a", nil, "c"])
            #expect(try built.ints(1) == [])
            #expect(try built.byteArrays(2) == [])
            #expect(try built.ints(3) == [1, 2, 3])
            // Several dimensions are not what the queue returns: refused, not misread.
            let matrix = try db.query("SELECT ARRAY[[1, 2], [3, 4]]::bigint[]")[0]
            #expect(throws: PGArray.Malformed.self) { try matrix.ints(0) }
        }
    }

    @Test func truncatedArraysAreRefused() throws {
        var whole = ByteBuffer()
        whole.writeInteger(Int32(1)); whole.writeInteger(Int32(0)); whole.writeInteger(Int32(25))
        whole.writeInteger(Int32(2)); whole.writeInteger(Int32(1))
        whole.writeInteger(Int32(3)); whole.writeString("abc")
        whole.writeInteger(Int32(2)); whole.writeString("de")
        #expect(try PGArray.texts(whole) == ["abc", "de"])
        for cut in [1, 3, 8, 12, 19, 22, whole.readableBytes - 1] {
            #expect(throws: PGArray.Malformed.self, "cut at \(cut)") { try PGArray.elements(whole.getSlice(at: 0, length: cut)) }
        }
    }
}
