package main

import "github.com/edgelog/edgelog/internal/cli"

func demoCommand() cli.Command {
	return unbuilt("demo", "hub + agent + simulated devices in one process, with live progress")
}
