/// Text from outside (plugin diagnostics, records) made safe to print on an operator's terminal: control
/// characters (ESC, CR, NUL, newlines, C1 controls) are shown as `\u{1B}`-style escapes, so a diagnostic
/// cannot forge lines or drive the terminal.
public enum TerminalText {
    public static func line(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            if scalar.properties.generalCategory == .control {
                out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
