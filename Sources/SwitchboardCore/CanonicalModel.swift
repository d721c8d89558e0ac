/// Canonical model v1: the entities and business events of the
/// opportunity-to-cash flow across CRM, PSA and ERP.
public enum CanonicalModel {
    public static let version = 1

    /// Fields every record carries. `tenant` and `source` are stamped by the
    /// host at ingest; plugins set `external_id` and `updated_at`.
    public static let envelope: [Field] = [
        Field("tenant", .string, required: true, "Tenant (client firm) the record belongs to"),
        Field("source", .string, required: true, "Connection the record came from"),
        Field("external_id", .identifier, required: true, "The record's id in the source system"),
        Field("updated_at", .dateTime, required: true, "When the source last changed the record"),
        Field("custom", .anyObject, "Custom fields, passed through unvalidated"),
    ]

    static let address: FieldType = .object([
        Field("street", .string), Field("city", .string), Field("postal_code", .string),
        Field("region", .string), Field("country", .country),
    ])

    public static let entities: [EntityType] = [
        EntityType("Account", "A client company (CRM account, ERP customer, PSA client)", [
            Field("name", .string, required: true), Field("legal_name", .string), Field("tax_id", .string),
            Field("email", .email), Field("phone", .string), Field("website", .string), Field("industry", .string),
            Field("billing_address", address), Field("currency", .currency), Field("payment_terms", .string),
            Field("status", .enumeration(["active", "inactive", "prospect"])),
        ]),
        EntityType("Contact", "A person at an account", [
            Field("account", .reference("Account")), Field("first_name", .string), Field("last_name", .string, required: true),
            Field("email", .email), Field("phone", .string), Field("title", .string),
        ]),
        EntityType("ServiceItem", "A sellable service (product, SKU, rate card item)", [
            Field("code", .string, required: true), Field("name", .string, required: true),
            Field("unit", .enumeration(["hour", "day", "fixed", "each"]), required: true), Field("unit_price", .money),
            Field("billing_code", .reference("BillingCode")), Field("active", .boolean),
        ]),
        EntityType("Opportunity", "A deal in the CRM", impact: "amount", [
            Field("name", .string, required: true), Field("account", .reference("Account"), required: true),
            Field("stage", .enumeration(["prospecting", "qualification", "proposal", "negotiation", "won", "lost"]), required: true),
            Field("amount", .money, required: true), Field("close_date", .date), Field("owner", .string),
            Field("probability", .integer),
            Field("lines", .array(.object([
                Field("service_item", .reference("ServiceItem"), required: true), Field("description", .string),
                Field("quantity", .decimal, required: true), Field("unit_price", .money, required: true),
            ]))),
        ]),
        EntityType("Contract", "A signed agreement with its term", impact: "value", [
            Field("account", .reference("Account"), required: true), Field("name", .string, required: true),
            Field("start_date", .date, required: true), Field("end_date", .date), Field("value", .money),
            Field("status", .enumeration(["draft", "active", "expired", "renewed", "terminated"]), required: true),
            Field("opportunity", .reference("Opportunity")),
        ]),
        EntityType("Project", "A delivery project in the PSA", impact: "budget", [
            Field("name", .string, required: true), Field("account", .reference("Account"), required: true),
            Field("opportunity", .reference("Opportunity")), Field("contract", .reference("Contract")),
            Field("status", .enumeration(["planned", "active", "on_hold", "completed", "cancelled"]), required: true),
            Field("budget", .money), Field("start_date", .date), Field("end_date", .date), Field("manager", .string),
            Field("billing_method", .enumeration(["time_and_materials", "fixed_price", "milestone", "retainer"])),
        ]),
        EntityType("Task", "A unit of work in a project", [
            Field("project", .reference("Project"), required: true), Field("name", .string, required: true),
            Field("status", .enumeration(["open", "in_progress", "done"])), Field("estimate_hours", .decimal),
            Field("service_item", .reference("ServiceItem")),
        ]),
        EntityType("Milestone", "A billable or reportable project milestone", impact: "amount", [
            Field("project", .reference("Project"), required: true), Field("name", .string, required: true),
            Field("due_date", .date), Field("completed_on", .date), Field("amount", .money),
            Field("status", .enumeration(["open", "completed", "invoiced"]), required: true),
        ]),
        EntityType("Resource", "A person or role that delivers work", [
            Field("name", .string, required: true), Field("email", .email), Field("role", .string),
            Field("cost_rate", .money), Field("bill_rate", .money),
        ]),
        EntityType("TimeEntry", "Time worked on a project", impact: "billable_amount", [
            Field("project", .reference("Project"), required: true), Field("task", .reference("Task")),
            Field("resource", .reference("Resource"), required: true), Field("date", .date, required: true),
            Field("hours", .decimal, required: true), Field("billable", .boolean, required: true),
            Field("rate", .money), Field("billable_amount", .money), Field("description", .string),
            Field("status", .enumeration(["draft", "submitted", "approved", "rejected", "invoiced"]), required: true),
        ]),
        EntityType("Expense", "A project expense", impact: "amount", [
            Field("project", .reference("Project"), required: true), Field("resource", .reference("Resource")),
            Field("date", .date, required: true), Field("amount", .money, required: true), Field("category", .string),
            Field("billable", .boolean, required: true),
            Field("status", .enumeration(["draft", "submitted", "approved", "rejected", "invoiced"]), required: true),
        ]),
        EntityType("BillingCode", "How work is billed and booked (rate card, revenue account)", [
            Field("code", .string, required: true), Field("name", .string, required: true),
            Field("revenue_account", .string), Field("tax_code", .string),
        ]),
        EntityType("FinancialDimension", "A reporting dimension (cost centre, region, practice)", [
            Field("dimension", .string, required: true), Field("code", .string, required: true), Field("name", .string, required: true),
        ]),
        EntityType("Invoice", "A customer invoice in the ERP", impact: "total", [
            Field("account", .reference("Account"), required: true), Field("number", .string),
            Field("project", .reference("Project")), Field("issue_date", .date), Field("due_date", .date),
            Field("status", .enumeration(["draft", "validated", "posted", "paid", "cancelled"]), required: true),
            Field("total", .money, required: true), Field("tax", .money), Field("amount_due", .money),
            Field("lines", .array(.object([
                Field("description", .string, required: true), Field("quantity", .decimal, required: true),
                Field("unit_price", .money, required: true), Field("service_item", .reference("ServiceItem")),
                Field("time_entries", .array(.reference("TimeEntry"))),
            ]))),
        ]),
        EntityType("Payment", "A payment received against an invoice", impact: "amount", [
            Field("invoice", .reference("Invoice"), required: true), Field("account", .reference("Account")),
            Field("amount", .money, required: true), Field("received_on", .date, required: true), Field("method", .string),
        ]),
        EntityType("ServiceCase", "A support or service case", [
            Field("account", .reference("Account"), required: true), Field("subject", .string, required: true),
            Field("priority", .enumeration(["low", "normal", "high", "urgent"]), required: true),
            Field("status", .enumeration(["new", "open", "escalated", "resolved", "closed"]), required: true),
            Field("project", .reference("Project")),
        ]),
    ]

    public static let events: [EventType] = [
        EventType(name: "opportunity.won", entity: "Opportunity", description: "A deal was closed as won"),
        EventType(name: "project.created", entity: "Project", description: "A delivery project was set up"),
        EventType(name: "time.approved", entity: "TimeEntry", description: "Time was approved for billing"),
        EventType(name: "expense.approved", entity: "Expense", description: "An expense was approved for billing"),
        EventType(name: "milestone.completed", entity: "Milestone", description: "A milestone was completed"),
        EventType(name: "invoice.posted", entity: "Invoice", description: "An invoice was posted in the ERP"),
        EventType(name: "payment.received", entity: "Payment", description: "A payment was received"),
        EventType(name: "contract.renewed", entity: "Contract", description: "A contract was renewed"),
        EventType(name: "case.escalated", entity: "ServiceCase", description: "A service case was escalated"),
    ]

    /// Master data: synchronised between systems apart from the event flows.
    public static let masterDataEntities: Set<String> = ["Account", "Contact", "ServiceItem"]

    private static let entityIndex = Dictionary(uniqueKeysWithValues: entities.map { ($0.name, $0) })
    private static let eventIndex = Dictionary(uniqueKeysWithValues: events.map { ($0.name, $0) })

    public static func entity(_ name: String) -> EntityType? { entityIndex[name] }
    public static func event(_ name: String) -> EventType? { eventIndex[name] }
}
