// Deals in a currency other than the company's. Tryton keeps its books, its
// price lists and project_invoice's draft invoices in the company's currency
// and invoices in any other at its own rates, so the connector converts at
// Tryton's rate (the latest on or before today) and says exactly what is
// missing when it cannot: never a relabel (docs/CONNECTORS.md, "Currencies").
import Foundation
import SwitchboardPluginKit

struct TrytonCurrencies {
    let tryton: TrytonSession
    let host: HostCall

    struct Currency: Equatable {
        var id: Int
        var code: String
        /// Tryton's rate today against its common base (the company's currency is usually 1); nil: no rate yet.
        var rate: Decimal?
    }

    /// The company's currency: Tryton's books, its list prices and its draft invoices are in it.
    func company() throws -> Currency {
        let company = tryton.context["company"] as? Int ?? 1
        let row = (try tryton.model("company.company", "read", [[company], ["currency"]], host: host) as? [[String: Any]])?.first
        guard let id = row?["currency"] as? Int, let currency = try find([["id", "=", id]]) else {
            throw PluginError.fatal("Tryton's company \(company) has no currency")
        }
        return currency
    }

    /// The currency with ISO code `code` and its rate today; fatal (a person adds it) when Tryton has none.
    func currency(_ code: String, fieldPath: String) throws -> Currency {
        guard let currency = try find([["code", "=", code]]) else {
            throw PluginError.fatal("Tryton has no currency \(code): add it (Currency > Currencies) with a rate, then retry the item",
                                    fieldPath: fieldPath)
        }
        return currency
    }

    /// What one unit of `from` is worth in `to` at Tryton's rates today, exactly as Tryton's own conversion
    /// computes it (`amount * to.rate / from.rate`); fatal naming the currency whose rate is missing.
    func factor(from: Currency, to: Currency, fieldPath: String) throws -> Decimal {
        if from.id == to.id { return 1 }
        for currency in [from, to] where (currency.rate ?? 0) == 0 {
            throw PluginError.fatal("Tryton has no rate for \(currency.code) on or before today: add one (Currency > Currencies > "
                                    + "\(currency.code) > Rates), then retry the item", fieldPath: fieldPath)
        }
        return to.rate! / from.rate!
    }

    private func find(_ domain: [Any]) throws -> Currency? {
        let rows = try tryton.model("currency.currency", "search_read", [domain, 0, 1, NSNull(), ["code", "rate"]], host: host)
            as? [[String: Any]] ?? []
        guard let row = rows.first, let id = row["id"] as? Int, let code = row["code"] as? String else { return nil }
        return Currency(id: id, code: code, rate: TrytonValue.decimalString(row["rate"]).flatMap(TrytonValue.exact))
    }
}
