// Package stats holds the benchmark suite's arithmetic and the description
// of the machine a run happened on: medians over rounds, latency quantiles,
// empirical CDFs, and number formatting for Markdown tables.
package stats
