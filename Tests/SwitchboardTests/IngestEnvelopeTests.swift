@testable import SwitchboardRuntime
import SwitchboardCore
import Testing

/// Ingest stamps `tenant` and `source` onto each record by appending them to the bytes received, not by writing the
/// parsed record out again: the result must be the record the old way gave, member for member.
@Suite struct IngestEnvelopeTests {
    static let records: [String] = [
        #"{"external_id":"A-1","name":"Northwind"}"#,
        "{\n  \"external_id\" : \"A-2\",\n  \"tags\": [1, 2.5, null]\n}\n\t ",
        "{}",
        "{ \n }",
        #"{"name":"Caf\u00e9 \"quoted\" \\ back","nested":{"a":[{"b":{}}]}}"#,
        #"{"umlaut":"Grüße","emoji":"🙂"}"#,
    ]

    @Test(arguments: records)
    func theStampedRecordIsTheParsedRecordWithTheEnvelopeSet(record: String) throws {
        let tenant = #"acme "eu""#, source = "crm\\main"
        let data = Array(record.utf8)
        var expected = try JSON.parse(data)
        expected.set("tenant", .string(tenant))
        expected.set("source", .string(source))
        let stamped = Ingestor.appendingEnvelope(to: data, tenant: tenant, source: source)
        #expect(try JSON.parse(stamped) == expected)
        #expect(try JSON.parse(stamped).objectValue?.suffix(2).map(\.0) == ["tenant", "source"])
    }

    /// A compact record comes out byte for byte as writing the parsed record did.
    @Test func aCompactRecordIsByteForByteWhatSerialisingGave() throws {
        let data = Array(#"{"external_id":"A-1","amount":"10.00","lines":[{"n":1}]}"#.utf8)
        var parsed = try JSON.parse(data)
        parsed.set("tenant", .string("t"))
        parsed.set("source", .string("crm"))
        #expect(Ingestor.appendingEnvelope(to: data, tenant: "t", source: "crm") == parsed.bytes)
    }

    /// A write after a workflow plugin's `{"set":...}` sends the set value's own text with the envelope appended: the
    /// text is found inside the command (a slice that does not start at 0), and only in that exact command shape.
    @Test func aSetCommandsValueIsStampedInPlace() throws {
        let command = Array(#"{"set":{"external_id":"A-1","updated_at":"2026-11-27T10:00:00Z","name":"NORTHWIND"}}"#.utf8)
        let text = try #require(WorkflowExecutor.setValueText(command))
        #expect(text.startIndex == 7)
        var expected = try JSON.parse(Array(text))
        expected.set("tenant", .string("acme"))
        expected.set("source", .string("crm"))
        #expect(Ingestor.appendingEnvelope(to: text, tenant: "acme", source: "crm") == expected.bytes)
        for other in [#"{"skip":{}}"#, #"{"set":{}} "#, #"{ "set":{}}"#, #"{"set":}"#] {
            #expect(WorkflowExecutor.setValueText(Array(other.utf8)) == nil, "\(other)")
        }
        #expect(WorkflowExecutor.setValueText(Array(#"{"set":{}}"#.utf8)).map(Array.init) == Array("{}".utf8))
    }
}

/// The webhook refusal window: degraded from the 5th refusal within 60 s until the burst is 60 s old; a flood
/// costs fixed memory and O(1) a refusal; audit rows are coalesced to one per 10 s, each counting what it covers.
@Suite struct DeliveryRefusalTests {
    @Test func aBurstDegradesTheConnectionUntilItIsAMinuteOld() {
        let refusals = DeliveryRefusals()
        let start: Int64 = 1_800_000_000_000
        var audited: [Int] = []
        for i in 0..<4 { audited.append(refusals.refused(reason: "bad signature", now: start + Int64(i) * 1000)) }
        #expect(!refusals.degraded(now: start + 4000) && refusals.recent(now: start + 4000) == 4)
        audited.append(refusals.refused(reason: "bad signature", now: start + 11_000))
        #expect(refusals.degraded(now: start + 11_000))
        #expect(audited == [1, 0, 0, 0, 4], "the first refusal is audited at once, the next row counts the four since")
        #expect(refusals.degraded(now: start + 59_000) && !refusals.degraded(now: start + 64_000))
        #expect(refusals.recent(now: start + 71_000) == 0 && refusals.total == 5 && refusals.lastReason == "bad signature")
    }

    @Test func aFloodCostsFixedMemory() {
        let refusals = DeliveryRefusals()
        let start: Int64 = 1_800_000_000_000
        for i in 0..<1_000_000 { _ = refusals.refused(reason: "forged", now: start + Int64(i / 20_000) * 1000) }
        #expect(refusals.recent(now: start + 49_000) == 1_000_000 && refusals.total == 1_000_000)
    }
}
