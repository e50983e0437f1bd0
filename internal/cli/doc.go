// Package cli holds the machinery every edgelog subcommand shares: flag
// parsing with an optional --config YAML file, usage errors that exit 2, and
// a signal-aware context.
//
// Contract:
//   - Every flag may also come from --config FILE. The file is a YAML mapping
//     whose keys are flag names without dashes (listen-mqtt: ":1883"). Flags
//     given on the command line override the file.
//   - An unknown key, a value that does not parse or a bad flag is a
//     *UsageError naming the key; commands exit with ExitUsage (2) on it and
//     start nothing.
package cli
