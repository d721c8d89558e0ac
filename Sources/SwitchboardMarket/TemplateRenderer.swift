import SwitchboardCore
import SwitchboardPackages

/// Renders an accelerator's configuration templates (docs/PACKAGES.md, step 4): `{{ name }}` becomes the parameter's
/// value as a YAML flow scalar (JSON text: strings quoted, so a value cannot add a line or a key), and a template's
/// lines stay the rendered file's lines, so the loader's file:line:column points into the template.
public enum TemplateRenderer {
    /// The rendered text of `template` (named `file` in messages); throws every unknown or unclosed placeholder.
    /// `declared`: the schema's parameter names (one declared, not given and without a default renders as null).
    public static func render(_ template: String, file: String, values: JSON, declared: [String]) throws(PackageError) -> String {
        var problems: [String] = []
        var out = ""
        for (number, line) in template.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var rest = Substring(line)
            while let open = rest.range(of: "{{") {
                out += rest[..<open.lowerBound]
                let column = line.distance(from: line.startIndex, to: open.lowerBound) + 1
                guard let close = rest.range(of: "}}", range: open.upperBound..<rest.endIndex) else {
                    problems.append("\(file):\(number + 1):\(column): a placeholder is not closed with }}")
                    rest = rest[open.upperBound...]
                    continue
                }
                let name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
                if let value = values[name] {
                    out += value.text
                } else if declared.contains(name) {
                    out += "null"
                } else {
                    problems.append("\(file):\(number + 1):\(column): {{ \(name) }} is not a parameter of this package (parameters: \(declared.isEmpty ? "none" : declared.sorted().joined(separator: ", ")))")
                }
                rest = rest[close.upperBound...]
            }
            out += rest
            out += "\n"
        }
        if !template.hasSuffix("\n") { out.removeLast() }
        guard problems.isEmpty else { throw PackageError(.invalidConfiguration, problems.joined(separator: "; ")) }
        return out
    }
}
