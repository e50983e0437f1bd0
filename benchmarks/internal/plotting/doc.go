// Package plotting draws the benchmark suite's PNG figures with gonum/plot:
// grouped bar charts (one bar per system within each group, e.g. msg/s per
// load) and line charts (latency CDFs, memory against connected clients).
// Every figure carries a subtitle line for the machine and date, so that a
// PNG copied out of its report still says where it came from.
package plotting
