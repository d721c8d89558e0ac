// switchboard-plugin-smoke PATH.so [CONFIG_JSON]: the plugin boundary alone,
// in a small binary (the valgrind tests run this one). Exit 0 all behaved,
// 1 an operation failed, 2 the loader refused the file.
import Foundation
import SwitchboardHost

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: switchboard-plugin-smoke PATH.so [CONFIG_JSON]\n".utf8))
    exit(64)
}
do {
    let plugin = try PluginLibrary.load(path: arguments[1])
    let (lines, ok) = PluginSmoke.run(plugin, config: Array((arguments.count > 2 ? arguments[2] : "{}").utf8))
    lines.forEach { print($0) }
    exit(ok ? 0 : 1)
} catch {
    FileHandle.standardError.write(Data("refused: \(error.description)\n".utf8))
    exit(2)
}
