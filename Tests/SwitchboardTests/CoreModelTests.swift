import Foundation
import SwitchboardCore
import SwitchboardStore
import Testing

@Suite struct JSONTests {
    @Test func parsesAndWritesBackExactly() throws {
        let text = #"{"a":[1,-2.50,3e2],"b":{"c":"d\"e\\\n\u00e9\ud83d\ude00"},"t":true,"f":false,"n":null}"#
        let value = try JSON.parse(text)
        #expect(value["a"]?.arrayValue?.map(\.numberText) == ["1", "-2.50", "3e2"])
        #expect(value["b"]?["c"]?.stringValue == "d\"e\\\né😀")
        #expect(try JSON.parse(value.text) == value)
    }

    @Test(arguments: [
        ("{", "expected a member name"), ("{\"a\" 1}", "expected ':'"), ("[1,]", "unexpected character ']'"),
        ("\"\\x\"", "invalid escape"), ("01", "unexpected data after the document"), ("{\"a\":1} x", "unexpected data"),
        ("\"\u{01}\"", "control character"), ("[\"\\ud800\"]", "unpaired surrogate"),
    ])
    func rejectsMalformedInputWithAnOffset(input: String, message: String) {
        do {
            _ = try JSON.parse(input)
            Issue.record("\(input) parsed")
        } catch {
            #expect(error.message.contains(message), "\(error)")
        }
    }

    /// Strings are scanned eight bytes at a time until a byte needs a look: each kind of such byte, at every
    /// offset around the word boundaries, is still seen (escapes decoded, control characters refused, UTF-8 checked).
    @Test func everyByteThatMattersIsSeenWhereverItFallsInAString() throws {
        let cases: [(raw: String, decoded: String)] = [(#"\""#, "\""), (#"\\"#, "\\"), (#"\n"#, "\n"), ("é", "é"), ("😀", "😀"),
                                                        (#"\u0041"#, "A")]
        for offset in 0..<20 {
            let before = String(repeating: "a", count: offset), after = String(repeating: "b", count: 19 - offset)
            for (raw, decoded) in cases {
                let value = try JSON.parse("[\"" + before + raw + after + "\"]")
                #expect(value.arrayValue?.first?.stringValue == before + decoded + after, "\(raw) at \(offset)")
            }
            #expect(throws: JSONParseError.self, "a tab at \(offset)") { try JSON.parse("\"" + before + "\t" + after + "\"") }
            #expect(throws: JSONParseError.self, "invalid UTF-8 at \(offset)") {
                try JSON.parse(Array(("\"" + before).utf8) + [0xC3, 0x28] + Array((after + "\"").utf8))
            }
            #expect(throws: JSONParseError.self, "unterminated at \(offset)") { try JSON.parse("\"" + before + after) }
            // And written: what needs an escape gets one, wherever it falls.
            for (character, escaped) in [("\"", #"\""#), ("\\", #"\\"#), ("\n", #"\n"#), ("\u{1}", #"\u0001"#), ("é", "é")] {
                let text = JSON.string(before + character + after).text
                #expect(text == "\"" + before + escaped + after + "\"", "\(escaped) at \(offset)")
                #expect(try JSON.parse(text).stringValue == before + character + after)
            }
        }
    }

    @Test func anArrayOfStringsIsWrittenAsTheJSONItParsesBackFrom() throws {
        let strings = ["t|wf|2|record.Account|crm|A-1", "quote \" and \\ back", "line\nbreak", "ünïcode", ""]
        #expect(try JSON.parse(JSON.arrayText(strings)).arrayValue?.compactMap(\.stringValue) == strings)
        #expect(JSON.arrayText([]) == "[]")
    }

    @Test func stepTimingsAreStoredAsTheJSONTheyDecodeFrom() throws {
        let steps = [StepTiming(step: "map", millis: 0.0004, status: "OK", detail: ""),
                     StepTiming(step: "write \"Account\" to erp", millis: 12.5, status: "RETRY",
                                detail: "line 1\nline 2\ttab \\ back – ünïcode 🙂 \u{1}"),
                     StepTiming(step: "call", millis: -0.25, status: "FATAL", detail: "x")]
        let text = StepCoding.encode(steps)
        let parsed = try JSON.parse(text)
        #expect(parsed.arrayValue?.count == 3)
        #expect(parsed.arrayValue?[1]["detail"]?.stringValue == steps[1].detail)
        #expect(parsed.arrayValue?.compactMap { $0["ms"]?.numberText } == ["0", "12.500", "-0.250"])
        #expect(StepCoding.decode(text).map(\.detail) == steps.map(\.detail))
        #expect(StepCoding.decode(text).map(\.step) == steps.map(\.step))
        #expect(StepCoding.encode([]) == "[]")
        let millis = [1234.5678, 3, -7, 0.001, 10.05, 999.9996, -1000.0004]
        let written = try JSON.parse(StepCoding.encode(millis.map { StepTiming(step: "s", millis: $0, status: "OK", detail: "") }))
        #expect(written.arrayValue?.compactMap { $0["ms"]?.numberText } == ["1234.568", "3", "-7", "0.001", "10.050", "1000", "-1000"])
    }

    @Test func nestingIsBounded() {
        #expect(throws: JSONParseError.self) { try JSON.parse(String(repeating: "[", count: 200) + String(repeating: "]", count: 200)) }
    }

    @Test func pathLookup() throws {
        let value = try JSON.parse(#"{"lines":[{"amount":{"amount":"1.00"}},{"amount":{"amount":"2.00"}}]}"#)
        #expect(value.value(at: "lines[1].amount.amount")?.stringValue == "2.00")
        #expect(value.value(at: "lines[5].amount") == nil)
    }
}

@Suite struct CanonicalModelTests {
    func record(_ text: String) throws -> JSON { try JSON.parse(text) }

    @Test func validRecordPasses() throws {
        let invoice = try record("""
            {"tenant":"t","source":"erp","external_id":"INV-1","updated_at":"2026-11-27T10:00:00+01:00","account":"C-1",
             "status":"posted","total":{"amount":"1200.50","currency":"EUR"},
             "lines":[{"description":"Consulting","quantity":"8","unit_price":{"amount":"150.00","currency":"EUR"}}]}
            """)
        #expect(CanonicalValidator.validate(record: invoice, entity: "Invoice").isEmpty)
        #expect(CanonicalValidator.impact(of: invoice, entity: "Invoice")! == ("1200.50", "EUR"))
    }

    @Test func everyProblemNamesItsFieldPath() throws {
        let invoice = try record("""
            {"tenant":"t","source":"erp","external_id":"INV-1","updated_at":"yesterday","status":"sent",
             "total":{"amount":12.5,"currency":"euro"},"color":"red",
             "lines":[{"description":"ok","quantity":"1","unit_price":{"amount":"1","currency":"EUR"}},{"quantity":"x"}]}
            """)
        let paths = Set(CanonicalValidator.validate(record: invoice, entity: "Invoice").map(\.fieldPath))
        #expect(paths == ["updated_at", "status", "account", "total.currency", "color", "lines[1].description",
                          "lines[1].quantity", "lines[1].unit_price"])
    }

    /// Ids become index keys in the store; one too long for PostgreSQL's index would fail its whole ingest batch.
    @Test func anOverlongExternalIDIsAFieldErrorOfItsRecord() throws {
        func account(_ id: String) -> JSON {
            .object([("tenant", .string("t")), ("source", .string("crm")), ("external_id", .string(id)),
                     ("updated_at", .string("2026-11-27T10:00:00Z")), ("name", .string("Northwind"))])
        }
        let limit = FieldType.identifierMaxLength
        #expect(CanonicalValidator.validate(record: account(String(repeating: "a", count: limit)), entity: "Account").isEmpty)
        #expect(CanonicalValidator.validate(record: account(String(repeating: "é", count: limit)), entity: "Account").isEmpty,
                "the limit counts characters, not bytes")
        let problems = CanonicalValidator.validate(record: account(String(repeating: "a", count: limit + 1)), entity: "Account")
        #expect(problems.map(\.fieldPath) == ["external_id"])
        #expect(problems.first?.summary == "is \(limit + 1) characters long; ids are at most \(limit)")
    }

    @Test func moneyIsADecimalStringNeverAFloat() throws {
        let bad = try record(#"{"tenant":"t","source":"s","external_id":"P","updated_at":"2026-01-01T00:00:00Z","invoice":"I","amount":{"amount":1e3,"currency":"EUR"},"received_on":"2026-02-30"}"#)
        let problems = CanonicalValidator.validate(record: bad, entity: "Payment")
        #expect(Set(problems.map(\.fieldPath)) == ["amount.amount", "received_on"])
    }

    @Test func unknownEntitiesAndEventsAreNamed() throws {
        let any = try record("{}")
        #expect(CanonicalValidator.validate(record: any, entity: "Spaceship").first?.summary.contains("Spaceship") == true)
        #expect(CanonicalValidator.validate(event: any, type: "deal.exploded").first?.fieldPath == "type")
    }

    /// The formats checked on every record, twice per event (at ingest and before each write).
    @Test(arguments: [
        ("2026-11-27", true), ("2024-02-29", true), ("2026-02-29", false), ("2026-13-01", false), ("2026-00-10", false),
        ("2026-11-31", false), ("2026-1-27", false), ("26-11-27", false), ("2026/11/27", false), ("2026-11-27 ", false), ("", false),
    ])
    func datesAreCalendarDates(text: String, valid: Bool) {
        #expect(CanonicalValidator.isDate(text) == valid)
    }

    @Test(arguments: [
        ("2026-11-27T10:15:00Z", true), ("2026-11-27t10:15:00z", true), ("2026-11-27 10:15:00Z", true),
        ("2026-11-27T10:15:00.123Z", true), ("2026-11-27T10:15:00+01:00", true), ("2026-11-27T10:15:00.5-05:30", true),
        ("2026-11-27T10:15:60Z", true), ("2026-11-27T10:15:61Z", false), ("2026-11-27T24:00:00Z", false), ("2026-11-27T10:60:00Z", false),
        ("2026-11-27T10:15:00", false), ("2026-11-27T10:15:00.Z", false), ("2026-11-27T10:15:00+0100", false),
        ("2026-11-27T10:15:00+24:00", false), ("2026-02-30T10:15:00Z", false), ("2026-11-27X10:15:00Z", false),
        ("2026-11-27T10:15:00Zx", false), ("2026-11-27T10-15-00Z", false), ("yesterday", false), ("", false),
    ])
    func dateTimesCarryAnOffset(text: String, valid: Bool) {
        #expect(CanonicalValidator.isDateTime(text) == valid)
    }

    @Test(arguments: [
        ("billing@northwind.example", true), ("a@b.c", true), ("é@exämple.de", true), ("@b.c", false), ("a@bc", false),
        ("a@.bc", false), ("a@bc.", false), ("a b@c.d", false), ("a@b@c.d", false), ("", false),
    ])
    func emailsHaveALocalPartAndADomain(text: String, valid: Bool) {
        #expect(CanonicalValidator.isEmail(text) == valid)
    }

    @Test func decimalAdditionIsExact() {
        #expect(DecimalText.add("0.10", "0.2") == "0.30")
        #expect(DecimalText.add("181000.00", "-1.5") == "180998.50")
        #expect(DecimalText.add("0", "12") == "12")
        // Amounts an outside system may send that 64-bit totals trapped on or left out (issue 26).
        #expect(DecimalText.add("1.0000000000000001", "1000") == "1001.0000000000000001")
        #expect(DecimalText.add("99999999999999999999999999999999999999.99", "0.01") == "100000000000000000000000000000000000000.00")
        #expect(DecimalText.add("-5.5", "5.50") == "0.00")
        #expect(DecimalText.add("-0.01", "0.001") == "-0.009")
        #expect(DecimalText.add("00012.50", "-12.5") == "0.00")
        #expect(DecimalText.add("not a number", "7.25") == "7.25" && DecimalText.add("7.25", "1e3") == "7.25")
    }

    /// The totals behind `GET /stats`, the dashboard and the quickstart summary: two open items of one reason and
    /// currency whose sum trapped in 64 bits ("arithmetic overflow" killed `switchboard run` on every view), and an
    /// amount of 25 digits that was left out of the total.
    @Test func moneyBlockedTotalsNeverTrapAndLeaveNoAmountOut() {
        let stats = StoreShared.stats(events: 3, byStatus: [:], openExceptions: [
            ("fatal", "1.0000000000000001", "EUR"), ("fatal", "1000", "EUR"), ("fatal", "1234567890123456789012345.00", "USD"),
            ("fatal", "5.00", "USD"),
        ], latencies: [])
        #expect(stats.exceptionsByReason["fatal"]?.blocked == ["EUR": "1001.0000000000000001", "USD": "1234567890123456789012350.00"])
        #expect(stats.exceptionsByReason["fatal"]?.count == 4)
    }

    /// Random sums at random sizes and scales against Foundation's Decimal (exact to 38 digits), and the laws an
    /// exact sum keeps at any size: commutative, associative, and a + (-a) = 0.
    @Test func decimalAdditionAgreesWithAnExactReferenceAndItsLaws() {
        var random = SystemRandomNumberGenerator()
        func decimal(maxWhole: Int, maxScale: Int) -> String {
            let whole = (0..<Int.random(in: 1...maxWhole, using: &random)).map { _ in String(Int.random(in: 0...9, using: &random)) }.joined()
            let scale = Int.random(in: 0...maxScale, using: &random)
            let fraction = (0..<scale).map { _ in String(Int.random(in: 0...9, using: &random)) }.joined()
            return (Bool.random(using: &random) ? "-" : "") + whole + (scale > 0 ? "." + fraction : "")
        }
        func negated(_ s: String) -> String { s.hasPrefix("-") ? String(s.dropFirst()) : "-" + s }
        for _ in 0..<2_000 {
            let a = decimal(maxWhole: 16, maxScale: 8), b = decimal(maxWhole: 16, maxScale: 8)
            let reference = Decimal(string: a)! + Decimal(string: b)!
            #expect(Decimal(string: DecimalText.add(a, b)) == reference, "\(a) + \(b)")
            let c = decimal(maxWhole: 60, maxScale: 30), d = decimal(maxWhole: 60, maxScale: 30), e = decimal(maxWhole: 60, maxScale: 30)
            #expect(DecimalText.add(c, d) == DecimalText.add(d, c))
            let left = DecimalText.add(DecimalText.add(c, d), e), right = DecimalText.add(c, DecimalText.add(d, e))
            #expect(left == right, "(\(c) + \(d)) + \(e)")
            #expect(DecimalText.add(c, negated(c)).allSatisfy { $0 == "0" || $0 == "." }, "\(c) - itself")
        }
    }

    /// docs/CANONICAL.md is what the model generates, and each example in it is a valid record of its entity.
    @Test func shippedCanonicalDocsMatchTheModel() throws {
        let shipped = try String(contentsOfFile: TestEnv.repoRoot + "/docs/CANONICAL.md", encoding: .utf8)
        #expect(shipped == CanonicalDocs.markdown(), "docs/CANONICAL.md is stale: run `switchboard schemas docs docs/CANONICAL.md`")
        for entity in CanonicalModel.entities {
            #expect(CanonicalValidator.validate(record: CanonicalDocs.example(entity), entity: entity.name).isEmpty, "\(entity.name)'s example")
            #expect(shipped.contains("\n## \(entity.name)\n"), "a section for \(entity.name)")
        }
        // The question a partner asks, answered by the docs: which fields does an Invoice need?
        let invoice = try #require(CanonicalModel.entity("Invoice"))
        let section = try #require(shipped.components(separatedBy: "\n## Invoice\n").last?.components(separatedBy: "\n## ").first)
        let requiredLine = try #require(section.split(separator: "\n").first { $0.contains("Required:") })
        for field in invoice.allFields where field.required { #expect(requiredLine.contains("`\(field.name)`"), "Invoice's required \(field.name)") }
        for field in invoice.fields where field.required { #expect(section.contains("| `\(field.name)` |"), "a row for Invoice's \(field.name)") }
        for event in CanonicalModel.events { #expect(shipped.contains("| `\(event.name)` |")) }
    }

    /// The JSON Schemas shipped to partners are exactly what the model generates.
    @Test func shippedSchemasMatchTheModel() throws {
        for (name, text) in CanonicalSchemaExport.files() {
            let shipped = try String(contentsOfFile: TestEnv.repoRoot + "/PluginSDK/schemas/v1/" + name, encoding: .utf8)
            #expect(shipped == text, "PluginSDK/schemas/v1/\(name) is stale: run `switchboard schemas export PluginSDK/schemas/v1`")
        }
        #expect(CanonicalModel.entities.count == 16)
        #expect(CanonicalModel.events.map(\.name).sorted() == ["case.escalated", "contract.renewed", "expense.approved", "invoice.posted",
                                                              "milestone.completed", "opportunity.won", "payment.received",
                                                              "project.created", "time.approved"])
    }
}

@Suite struct MappingTests {
    @Test func expressionsEvaluate() throws {
        let input = try JSON.parse(#"{"first":" Ada ","last":"Lovelace","amount":{"amount":"10.00","currency":"GBP"},"at":"2026-11-27T10:00:00Z"}"#)
        let mapping = FieldMapping([
            ("name", try MappingExpression.parse("concat(trim($.first), ' ', upper($.last))")),
            ("budget", try MappingExpression.parse("money($.amount.amount, $.amount.currency)")),
            ("day", try MappingExpression.parse("date($.at)")),
            ("address.country", try MappingExpression.parse("coalesce($.country, 'GB')")),
            ("skipped", try MappingExpression.parse("$.missing")),
        ])
        let out = mapping.apply(to: input)
        #expect(out["name"]?.stringValue == "Ada LOVELACE")
        #expect(out["budget"]?["currency"]?.stringValue == "GBP")
        #expect(out["day"]?.stringValue == "2026-11-27")
        #expect(out["address"]?["country"]?.stringValue == "GB")
        #expect(out["skipped"] == nil)
    }

    /// Number literals are JSON numbers: `1.2.3`, a lone `-`, `5.` or non-ASCII digits are refused where they stand
    /// (before: accepted, and written into the record as invalid JSON).
    @Test func numberLiteralsAreJSONNumbersOrAClearError() throws {
        #expect(try MappingExpression.parse("-12.50").evaluate(.null) == .number("-12.50"))
        #expect(try MappingExpression.parse("coalesce($.a, 7)").evaluate(.object([])).numberText == "7")
        for (text, message) in [("1.2.3", "1.2.3 is not a number"), ("-", "- is not a number"), ("5.", "5. is not a number"),
                                ("coalesce($.a, 1..2)", "1..2 is not a number"), ("\u{0663}", "unexpected"), ("1\u{0663}", "not an ASCII digit")] {
            #expect {
                _ = try MappingExpression.parse(text)
            } throws: { error in
                (error as? MappingExpression.ParseError)?.message.contains(message) == true
            }
        }
    }

    @Test(arguments: [("frobnicate($.a)", "unknown function"), ("upper($.a, $.b)", "takes 1 arguments"), ("'open", "unterminated"),
                      ("name", "write a path as $.name"), ("concat($.a", "')' expected")])
    func badExpressionsSayWhereAndWhy(text: String, message: String) {
        do {
            _ = try MappingExpression.parse(text)
            Issue.record("\(text) parsed")
        } catch {
            #expect(error.message.contains(message), "\(error)")
            #expect(error.column >= 1)
        }
    }
}

/// The hand-built ISO-8601 writer says what Foundation's formatter says, to the millisecond.
@Suite struct ClockTests {
    @Test(arguments: [Int64(0), 951_782_400_000, 1_795_600_500_123, 4_102_444_799_999, -1, -86_400_001, 1_000, 999])
    func iso8601MatchesFoundation(millis: Int64) {
        let plain = ISO8601DateFormatter()
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let date = Date(timeIntervalSince1970: Double(millis) / 1000)
        #expect(Clock.iso8601(unixMillis: millis) == plain.string(from: date))
        #expect(Clock.iso8601(unixMillis: millis, fractionalSeconds: true) == fractional.string(from: date))
    }
}
