import SwitchboardCore

/// JSON from outside (plugin emits, webhook bodies, API requests): parse, write, parse again.
enum JSONRoundTripFuzz {
    static func run(_ input: [UInt8]) throws(FuzzFinding) {
        guard let value = try? JSON.parse(input) else { return }
        var written: [UInt8] = []
        value.write(into: &written)
        let again: JSON
        do { again = try JSON.parse(written) } catch {
            throw FuzzFinding("the writer produced JSON its own parser rejects: \(error)")
        }
        guard again == value else { throw FuzzFinding("a round trip changed the value") }
        var rewritten: [UInt8] = []
        again.write(into: &rewritten)
        guard rewritten == written else { throw FuzzFinding("writing the same value twice gave different bytes") }
    }
}

/// Mapping expressions from a partner's configuration: parse, evaluate on a record, write the result.
enum MappingExpressionFuzz {
    static let record: JSON = try! JSON.parse(
        #"{"amount":{"value":"12000.50","currency":"USD"},"name":"Acme \u001b[2J","lines":[{"qty":2},null],"won":true}"#)

    static func run(_ input: [UInt8]) throws(FuzzFinding) {
        let text = String(decoding: input, as: UTF8.self)
        guard let expression = try? MappingExpression.parse(text) else { return }
        let result = expression.evaluate(record)
        var written: [UInt8] = []
        result.write(into: &written)
        do { _ = try JSON.parse(written) } catch {
            throw FuzzFinding("expression \(text.debugDescription) evaluated to invalid JSON: \(String(decoding: written, as: UTF8.self))")
        }
    }
}

/// Money totals: `a,b` added both ways.
enum DecimalFuzz {
    static func run(_ input: [UInt8]) throws(FuzzFinding) {
        let text = String(decoding: input, as: UTF8.self)
        let parts = text.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else { return }
        let ab = DecimalText.add(parts[0], parts[1]), ba = DecimalText.add(parts[1], parts[0])
        let bothDecimals = CanonicalValidator.isDecimal(parts[0]) && CanonicalValidator.isDecimal(parts[1])
        if bothDecimals {
            guard CanonicalValidator.isDecimal(ab) else { throw FuzzFinding("\(parts[0]) + \(parts[1]) gave \(ab), not a decimal") }
            guard ab == ba else { throw FuzzFinding("\(parts[0]) + \(parts[1]) = \(ab) but the other way = \(ba)") }
        }
    }
}
